"""The package's layering: every module imports only from its own layer or the layers below it, and no modules
import each other in a loop. Imports are read from the source at any depth (function-level imports count as much
as top-level ones; see scripts/code_shape.py). The same order is written down in README.md, "Development"."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The layers, lowest first. A module may import from its own layer and the layers below; a new package or
#: top-level module gets a place here (the test fails until it has one).
LAYERS: list[tuple[str, ...]] = [
    ("faceedit.errors", "faceedit.atomic", "faceedit.limits", "faceedit.device",  # base (+ device choice,
     "faceedit.threads"),                                                            # CPU threads)
    ("faceedit.media", "faceedit.latents", "faceedit.figure"),    # image / latent files, labelled figures
    ("faceedit.nn", "faceedit.geometry"),                         # the networks; point clouds and head pose
    ("faceedit.io",),                                             # checkpoint formats, weights files, registry
    ("faceedit.features",),                                       # ImageNet VGG features
    ("faceedit.model",),                                          # the core type: Model
    ("faceedit.align", "faceedit.scorers", "faceedit.data"),      # photos in; face scorers; data sets
    ("faceedit.metrics",),                                        # distances, quality, realism, inversion figures
    ("faceedit.edit",),                                           # operations on latents and styles
    ("faceedit.invert",),                                         # photos → latents (+ tuned generators)
    ("faceedit.face",),                                           # the face being edited, one resolver
    ("faceedit.train", "faceedit.cluster", "faceedit.stylize"),  # the training framework, trainers; clustering; style transfer
    ("faceedit.adapt",),                                          # one-shot art adaptation (DIFA), art faces
    ("faceedit.api",),                                            # the Python API
    ("faceedit.batch",),                                          # many photos / seeds on workers or Ray
    ("faceedit.web",),                                            # the web app
    ("faceedit.cli",),                                            # the command line
    ("faceedit", "faceedit.__main__"),                            # the package's face
]


def _code_shape():
    spec = importlib.util.spec_from_file_location("code_shape", ROOT / "scripts" / "code_shape.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _layer_of(module: str) -> int | None:
    """The layer of ``module``: of the longest name in LAYERS it is or lies under (``faceedit`` itself only
    matches the package)."""
    best, depth = None, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            inside = module == name or (name != "faceedit" and module.startswith(name + "."))
            if inside and name.count(".") > depth:
                best, depth = i, name.count(".")
    return best


def test_every_module_has_a_layer_and_imports_only_downwards():
    cs = _code_shape()
    graph = cs.import_graph()
    assert len(graph) > 90, "the import graph reads the package"
    unplaced = sorted(m for m in graph if _layer_of(m) is None)
    assert not unplaced, f"modules without a layer (add them to LAYERS here and in the README): {unplaced}"
    upward = []
    for module, targets in graph.items():
        for target, where in targets.items():
            if _layer_of(target) > _layer_of(module):
                line, in_function = where[0]
                upward.append(f"{module}:{line} imports {target}{' (in a function)' if in_function else ''}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    cs = _code_shape()
    graph = cs.import_graph()
    assert cs.cycles(graph) == [], "modules that import each other in a loop"
    areas = cs.area_graph(graph)
    assert cs.cycles({a: dict.fromkeys(t) for a, t in areas.items()}) == [], "areas that import each other"


def test_the_checker_sees_function_level_and_cyclic_imports(tmp_path):
    """The reader finds an import inside a function and reports a loop made of one."""
    cs = _code_shape()
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.a import g\n    import importlib\n"
                              "    importlib.import_module('pkg.c')\n")
    (pkg / "c.py").write_text("x = 1\n")
    graph = cs.import_graph(pkg)
    assert graph["pkg.b"]["pkg.a"][0] == (2, True) and "pkg.c" in graph["pkg.b"]
    assert cs.cycles(graph) == [["pkg.a", "pkg.b"]]
