"""Choosing frontal faces: limits on the head pose's |yaw| and |pitch| (degrees) and the reason a face misses them.

    limits = PoseLimits.from_options(max_yaw=20, max_pitch=None)   # a clear FaceEditError for a bad limit
    limits.miss(pose)            # None when within the limits, else e.g. "yaw 34.1° > 20°"

Angles are those of :class:`~faceedit.geometry.headpose.HeadPose` (yaw > 0 the face turns to the image's right,
pitch > 0 chin up); a limit bounds the absolute angle, so ``max_yaw=20`` keeps faces turned at most 20° either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceedit.limits import check_float

#: The largest limit that means anything: a head turned more than 90° shows no face.
MAX_LIMIT_DEG = 90.0


def check_limit(value: float | None, option: str) -> float | None:
    """``value`` (degrees) as a float when it is a finite number within 0–90, None when not given; otherwise a
    one-line :class:`FaceEditError` naming ``option``."""
    return None if value is None else check_float(value, option, 0.0, MAX_LIMIT_DEG)


@dataclass(frozen=True)
class PoseLimits:
    """Largest |yaw| and |pitch| in degrees a face may have (None: no limit on that angle)."""

    max_yaw: float | None = None
    max_pitch: float | None = None

    @classmethod
    def from_options(cls, max_yaw: float | None = None, max_pitch: float | None = None) -> "PoseLimits":
        """Checked limits (finite, 0–90°) from the ``--max-yaw`` / ``--max-pitch`` options."""
        return cls(check_limit(max_yaw, "--max-yaw"), check_limit(max_pitch, "--max-pitch"))

    @property
    def active(self) -> bool:
        """True when at least one angle is limited (only then are poses needed)."""
        return self.max_yaw is not None or self.max_pitch is not None

    def miss(self, pose) -> str | None:
        """Why ``pose`` (anything with ``.yaw`` and ``.pitch`` in degrees) is outside the limits, e.g.
        ``"yaw 34.1° > 20°"`` or ``"yaw -34.1° < -20°"`` (both angles when both miss), or None when it is within
        them."""
        parts = []
        for name, angle, limit in (("yaw", pose.yaw, self.max_yaw), ("pitch", pose.pitch, self.max_pitch)):
            if limit is not None and not abs(angle) <= limit:
                bound = f"< -{limit:g}°" if angle < 0 else f"> {limit:g}°"
                parts.append(f"{name} {angle:.1f}° {bound}")
        return ", ".join(parts) or None
