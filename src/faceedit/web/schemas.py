"""Request and response bodies of the REST API (pydantic models; they make the OpenAPI schema)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_AMOUNT = 10.0
#: Attributes named in one request (amounts, keep, sweeps).
MAX_NAMES = 64


class Body(BaseModel):
    """Request bodies: no NaN or infinity anywhere (JSON parsers accept them)."""

    model_config = ConfigDict(allow_inf_nan=False)


class Generate(Body):
    seed: int = Field(0, ge=0, lt=2 ** 32, description="random seed of the face (z drawn as NVIDIA's scripts)")
    truncation: float = Field(0.7, ge=0.0, le=1.5, description="truncation ψ: 1 = none, 0 = the average face")


class SessionInfo(BaseModel):
    id: str
    source: str
    seed: int | None = None
    truncation: float | None = None
    parents: list[str] = []
    has_photo: bool = False
    note: str | None = None
    created: float
    image: str = Field(description="URL of the unedited image (PNG)")


class EditBody(Body):
    amounts: dict[str, float] = Field(default_factory=dict, max_length=MAX_NAMES,
                                      description="attribute → units (std devs), e.g. {\"smiling\": 2, \"age\": -1}")
    keep: list[str] = Field(default_factory=list, max_length=MAX_NAMES,
                            description="attributes to keep fixed (conditional edit)")
    layers: str | None = Field(None, max_length=200, description="w+ layers to edit: all, coarse, middle, fine or "
                               "a range like 0-5")
    view: Literal["aligned", "photo"] = Field("aligned", description="photo: paste into the uploaded photo")
    style: str | None = Field(None, max_length=64, pattern=r"^(art:)?[a-z0-9_]+$", description="a shipped style "
                              "network applied to the rendered image, or 'art:NAME': the face redrawn by a shipped "
                              "art generator (GET /api/info → styles)")
    seq: int | None = Field(None, description="client sequence number: older requests for the face are "
                            "dropped with 409")


class AnimateBody(Body):
    amounts: dict[str, float] = Field(default_factory=dict, max_length=MAX_NAMES, description="the edit to "
                                      "animate: the frames go from the unedited face to this edit (when no "
                                      "attributes are given)")
    attributes: list[str] = Field(default_factory=list, max_length=8, description="sweep these attributes "
                                  "from start to stop units instead, one after the other (or together: "
                                  "combine)")
    start: float = Field(-3.0, ge=-MAX_AMOUNT, le=MAX_AMOUNT)
    stop: float = Field(3.0, ge=-MAX_AMOUNT, le=MAX_AMOUNT)
    frames: int = Field(24, ge=2, le=120, description="frames per edit or attribute sweep")
    combine: bool = False
    pingpong: bool = Field(True, description="append the way back so the loop is seamless")
    keep: list[str] = Field(default_factory=list, max_length=MAX_NAMES)
    layers: str | None = Field(None, max_length=200)
    fps: float = Field(24.0, gt=0, le=60)
    format: Literal["gif", "mp4"] = "gif"
    view: Literal["aligned", "photo"] = "aligned"


class MixBody(Body):
    a: str = Field(max_length=64, description="session id of face A (kept outside the mixed layers)")
    b: str = Field(max_length=64, description="session id of face B (gives the mixed layers)")
    layers: str = Field("fine", max_length=200, description="coarse, middle, fine, all or a range like 0-3")


class MorphBody(Body):
    a: str = Field(max_length=64)
    b: str = Field(max_length=64)
    frames: int = Field(30, ge=2, le=120)
    fps: float = Field(24.0, gt=0, le=60)
    pingpong: bool = False
    format: Literal["gif", "mp4"] = "gif"
