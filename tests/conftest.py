"""Fixtures shared by several test modules."""

import pytest
import torch


@pytest.fixture()
def one_torch_thread():
    """Run a test on one torch thread (on the shared 2-core machine, one thread beats two that wait for each
    other); the previous setting is restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
