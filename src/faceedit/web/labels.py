"""Human words for the page: each attribute's label and slider group, and how well its direction was fitted in
plain words instead of "acc 91%".

Groups are the page's slider sections (expression, age & gender, pose, hair, accessories); an attribute not
listed here goes to "other" with its name as the label, so directions fitted later still get a slider.
"""

from __future__ import annotations

#: The page's slider groups in display order: (id, heading).
GROUPS: tuple[tuple[str, str], ...] = (
    ("expression", "Expression"),
    ("age_gender", "Age & gender"),
    ("pose", "Pose"),
    ("hair", "Hair"),
    ("accessories", "Accessories & make-up"),
    ("other", "Other"),
)

#: attribute name → (group id, label shown next to its slider).
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "smiling": ("expression", "Smile"),
    "happy": ("expression", "Happy"),
    "sad": ("expression", "Sad"),
    "angry": ("expression", "Angry"),
    "surprised": ("expression", "Surprised"),
    "mouth_open": ("expression", "Mouth open"),
    "eyes_narrowed": ("expression", "Eyes narrowed"),
    "age": ("age_gender", "Age"),
    "young": ("age_gender", "Young"),
    "male": ("age_gender", "Masculine"),
    "yaw": ("pose", "Turn head (left ↔ right)"),
    "pitch": ("pose", "Tilt head (down ↔ up)"),
    "bald": ("hair", "Bald"),
    "bangs": ("hair", "Bangs"),
    "black_hair": ("hair", "Black hair"),
    "blond_hair": ("hair", "Blond hair"),
    "brown_hair": ("hair", "Brown hair"),
    "gray_hair": ("hair", "Grey hair"),
    "wavy_hair": ("hair", "Wavy hair"),
    "eyeglasses": ("accessories", "Glasses"),
    "beard": ("accessories", "Beard"),
    "heavy_makeup": ("accessories", "Make-up"),
}

#: (lowest held-out accuracy, word) from best to worst: how reliably a direction changes only its attribute.
RELIABILITY: tuple[tuple[float, str], ...] = ((0.95, "reliable"), (0.9, "good"), (0.8, "fair"), (0.0, "rough"))


def attribute_label(name: str) -> str:
    """The slider label of attribute ``name`` ("smiling" → "Smile"; unknown names: "foo_bar" → "Foo bar")."""
    known = ATTRIBUTES.get(name)
    return known[1] if known else name.replace("_", " ").strip().capitalize()


def attribute_group(name: str) -> str:
    """The id of the slider group attribute ``name`` belongs to ("other" when it is not listed)."""
    known = ATTRIBUTES.get(name)
    return known[0] if known else "other"


def reliability(val_accuracy: float | None) -> tuple[str, str] | None:
    """``(word, explanation)`` for a direction's held-out accuracy (a fraction in 0..1), None when unknown."""
    if val_accuracy is None:
        return None
    acc = float(val_accuracy)
    word = next(w for lo, w in RELIABILITY if acc >= lo)
    return word, (f"{word}: the direction tells the attribute apart in {round(100 * acc)} of 100 faces it was "
                  f"not fitted on")


def display_order(name: str) -> tuple[int, int, str]:
    """Sort key of attribute ``name`` on the page: by group, then as listed in :data:`ATTRIBUTES` (the most used
    first: smile before the rarer expressions), unknown names last by name."""
    ids = [g for g, _ in GROUPS]
    order = list(ATTRIBUTES)
    return ids.index(attribute_group(name)), order.index(name) if name in order else len(order), name


def describe(row: dict) -> dict:
    """A row of :meth:`DirectionSet.table` with ``label``, ``group`` and ``reliability`` / ``reliability_note``
    added (the page shows these; the numbers stay for API users)."""
    name = row["attribute"]
    rel = reliability(row.get("val_accuracy"))
    return dict(row, label=attribute_label(name), group=attribute_group(name),
                reliability=rel[0] if rel else None, reliability_note=rel[1] if rel else None)
