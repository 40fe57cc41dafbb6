"""Attribute vocabularies of the PAR benchmarks, and one sentence per attribute for the teacher.

The name lists are in each data set's own on-disk order (the order of `attributes` in PA100K's
annotation.mat, of the first 35 names in PETA.mat, of the first 51 names in RAP_annotation.mat),
which is also the column order of their label matrices. The field's "group order" (head, upper,
lower, ... as Rethinking_of_PAR's pickles may store it) is a permutation of these, read from the
pickle where present; it is not hard-coded here.

This module only names attributes; it does not read files (see `formats`).
"""

from __future__ import annotations

import re

PA100K_ATTRIBUTES: tuple[str, ...] = (
    "Female", "AgeOver60", "Age18-60", "AgeLess18", "Front", "Side", "Back", "Hat", "Glasses",
    "HandBag", "ShoulderBag", "Backpack", "HoldObjectsInFront", "ShortSleeve", "LongSleeve",
    "UpperStride", "UpperLogo", "UpperPlaid", "UpperSplice", "LowerStripe", "LowerPattern",
    "LongCoat", "Trousers", "Shorts", "Skirt&Dress", "boots",
)  # fmt: skip

PETA_ATTRIBUTES: tuple[str, ...] = (
    "personalLess30", "personalLess45", "personalLess60", "personalLarger60", "carryingBackpack",
    "carryingOther", "lowerBodyCasual", "upperBodyCasual", "lowerBodyFormal", "upperBodyFormal",
    "accessoryHat", "upperBodyJacket", "lowerBodyJeans", "footwearLeatherShoes", "upperBodyLogo",
    "hairLong", "personalMale", "carryingMessengerBag", "accessoryMuffler", "accessoryNothing",
    "carryingNothing", "upperBodyPlaid", "carryingPlasticBags", "footwearSandals", "footwearShoes",
    "lowerBodyShorts", "upperBodyShortSleeve", "lowerBodyShortSkirt", "footwearSneaker",
    "upperBodyThinStripes", "accessorySunglasses", "lowerBodyTrousers", "upperBodyTshirt",
    "upperBodyOther", "upperBodyVNeck",
)  # fmt: skip

# PETA.mat names 105 attributes: the 35 evaluated ones, then 44 colours, then 26 extra ones.
PETA_COLOR_ATTRIBUTES: tuple[str, ...] = tuple(
    f"{part}{colour}"
    for part in ("upperBody", "lowerBody", "hair", "footwear")
    for colour in (
        "Black",
        "Blue",
        "Brown",
        "Green",
        "Grey",
        "Orange",
        "Pink",
        "Purple",
        "Red",
        "White",
        "Yellow",
    )
)
PETA_EXTRA_ATTRIBUTES: tuple[str, ...] = (
    "accessoryHeadphone", "personalLess15", "carryingBabyBuggy", "hairBald", "footwearBoots",
    "lowerBodyCapri", "carryingShoppingTro", "carryingUmbrella", "personalFemale", "carryingFolder",
    "accessoryHairBand", "lowerBodyHotPants", "accessoryKerchief", "lowerBodyLongSkirt",
    "upperBodyLongSleeve", "lowerBodyPlaid", "lowerBodyThinStripes", "carryingLuggageCase",
    "upperBodyNoSleeve", "hairShort", "footwearStocking", "upperBodySuit", "carryingSuitcase",
    "lowerBodySuits", "upperBodySweater", "upperBodyThickStripes",
)  # fmt: skip
PETA_ALL_ATTRIBUTES = PETA_ATTRIBUTES + PETA_COLOR_ATTRIBUTES + PETA_EXTRA_ATTRIBUTES

RAP_ATTRIBUTES: tuple[str, ...] = (
    "Female", "AgeLess16", "Age17-30", "Age31-45", "BodyFat", "BodyNormal", "BodyThin", "Customer",
    "Clerk", "hs-BaldHead", "hs-LongHair", "hs-BlackHair", "hs-Hat", "hs-Glasses", "hs-Muffler",
    "ub-Shirt", "ub-Sweater", "ub-Vest", "ub-TShirt", "ub-Cotton", "ub-Jacket", "ub-SuitUp",
    "ub-Tight", "ub-ShortSleeve", "lb-LongTrousers", "lb-Skirt", "lb-ShortSkirt", "lb-Dress",
    "lb-Jeans", "lb-TightTrousers", "shoes-Leather", "shoes-Sport", "shoes-Boots", "shoes-Cloth",
    "shoes-Casual", "attach-Backpack", "attach-SingleShoulderBag", "attach-HandBag", "attach-Box",
    "attach-PlasticBag", "attach-PaperBag", "attach-HandTrunk", "attach-Other", "action-Calling",
    "action-Talking", "action-Gathering", "action-Holding", "action-Pusing", "action-Pulling",
    "action-CarrybyArm", "action-CarrybyHand",
)  # fmt: skip

# RAP_annotation.mat names 92 attributes: the 51 evaluated ones, 12 extra (face, occlusion), 29 colours.
RAP_EXTRA_ATTRIBUTES: tuple[str, ...] = (
    "faceFront", "faceBack", "faceLeft", "faceRight", "occlusionLeft", "occlusionRight", "occlusionUp",
    "occlusionDown", "occlusion-Environment", "occlusion-Attachment", "occlusion-Person", "occlusion-Other",
)  # fmt: skip
RAP_COLOR_ATTRIBUTES: tuple[str, ...] = (
    tuple(f"up-{c}" for c in ("Black", "White", "Gray", "Red", "Green", "Blue", "Yellow", "Brown", "Purple", "Pink", "Orange", "Mixture"))
    + tuple(f"low-{c}" for c in ("Black", "White", "Gray", "Red", "Green", "Blue", "Yellow", "Mixture"))
    + tuple(f"shoes-{c}" for c in ("Black", "White", "Gray", "Red", "Green", "Blue", "Yellow", "Brown", "Mixture"))
)  # fmt: skip
RAP_ALL_ATTRIBUTES = RAP_ATTRIBUTES + RAP_EXTRA_ATTRIBUTES + RAP_COLOR_ATTRIBUTES

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "pa100k": PA100K_ATTRIBUTES,
    "synthetic": PA100K_ATTRIBUTES,
    "peta": PETA_ATTRIBUTES,
    "rap": RAP_ATTRIBUTES,
}

_SENTENCES: dict[str, str] = {
    # PA100K
    "Female": "The pedestrian is a woman.",
    "AgeOver60": "The pedestrian is older than sixty.",
    "Age18-60": "The pedestrian is an adult between eighteen and sixty.",
    "AgeLess18": "The pedestrian is younger than eighteen.",
    "Front": "The pedestrian is seen from the front.",
    "Side": "The pedestrian is seen from the side.",
    "Back": "The pedestrian is seen from the back.",
    "Hat": "The pedestrian wears a hat.",
    "Glasses": "The pedestrian wears glasses.",
    "HandBag": "The pedestrian carries a hand bag.",
    "ShoulderBag": "The pedestrian carries a shoulder bag.",
    "Backpack": "The pedestrian carries a backpack.",
    "HoldObjectsInFront": "The pedestrian holds objects in front of the body.",
    "ShortSleeve": "The pedestrian wears short sleeves.",
    "LongSleeve": "The pedestrian wears long sleeves.",
    "UpperStride": "The upper clothing has stripes.",
    "UpperLogo": "The upper clothing has a logo.",
    "UpperPlaid": "The upper clothing has a plaid pattern.",
    "UpperSplice": "The upper clothing is spliced from different colours.",
    "LowerStripe": "The lower clothing has stripes.",
    "LowerPattern": "The lower clothing has a pattern.",
    "LongCoat": "The pedestrian wears a long coat.",
    "Trousers": "The pedestrian wears trousers.",
    "Shorts": "The pedestrian wears shorts.",
    "Skirt&Dress": "The pedestrian wears a skirt or a dress.",
    "boots": "The pedestrian wears boots.",
    # PETA
    "personalLess30": "The pedestrian is younger than thirty.",
    "personalLess45": "The pedestrian is between thirty and forty-five years old.",
    "personalLess60": "The pedestrian is between forty-five and sixty years old.",
    "personalLarger60": "The pedestrian is older than sixty.",
    "carryingBackpack": "The pedestrian carries a backpack.",
    "carryingOther": "The pedestrian carries something.",
    "lowerBodyCasual": "The pedestrian wears casual lower clothing.",
    "upperBodyCasual": "The pedestrian wears casual upper clothing.",
    "lowerBodyFormal": "The pedestrian wears formal lower clothing.",
    "upperBodyFormal": "The pedestrian wears formal upper clothing.",
    "accessoryHat": "The pedestrian wears a hat.",
    "upperBodyJacket": "The pedestrian wears a jacket.",
    "lowerBodyJeans": "The pedestrian wears jeans.",
    "footwearLeatherShoes": "The pedestrian wears leather shoes.",
    "upperBodyLogo": "The upper clothing has a logo.",
    "hairLong": "The pedestrian has long hair.",
    "personalMale": "The pedestrian is a man.",
    "carryingMessengerBag": "The pedestrian carries a messenger bag.",
    "accessoryMuffler": "The pedestrian wears a muffler.",
    "accessoryNothing": "The pedestrian wears no accessories.",
    "carryingNothing": "The pedestrian carries nothing.",
    "upperBodyPlaid": "The upper clothing has a plaid pattern.",
    "carryingPlasticBags": "The pedestrian carries plastic bags.",
    "footwearSandals": "The pedestrian wears sandals.",
    "footwearShoes": "The pedestrian wears shoes.",
    "lowerBodyShorts": "The pedestrian wears shorts.",
    "upperBodyShortSleeve": "The pedestrian wears short sleeves.",
    "lowerBodyShortSkirt": "The pedestrian wears a short skirt.",
    "footwearSneaker": "The pedestrian wears sneakers.",
    "upperBodyThinStripes": "The upper clothing has thin stripes.",
    "accessorySunglasses": "The pedestrian wears sunglasses.",
    "lowerBodyTrousers": "The pedestrian wears trousers.",
    "upperBodyTshirt": "The pedestrian wears a T-shirt.",
    "upperBodyOther": "The pedestrian wears other upper clothing.",
    "upperBodyVNeck": "The pedestrian wears a V-neck top.",
    # RAPv1
    "AgeLess16": "The pedestrian is younger than sixteen.",
    "Age17-30": "The pedestrian is between seventeen and thirty years old.",
    "Age31-45": "The pedestrian is between thirty-one and forty-five years old.",
    "BodyFat": "The pedestrian has a fat body.",
    "BodyNormal": "The pedestrian has a normal body.",
    "BodyThin": "The pedestrian has a thin body.",
    "Customer": "The pedestrian is a customer.",
    "Clerk": "The pedestrian is a clerk.",
    "hs-BaldHead": "The pedestrian is bald.",
    "hs-LongHair": "The pedestrian has long hair.",
    "hs-BlackHair": "The pedestrian has black hair.",
    "hs-Hat": "The pedestrian wears a hat.",
    "hs-Glasses": "The pedestrian wears glasses.",
    "hs-Muffler": "The pedestrian wears a muffler.",
    "ub-Shirt": "The pedestrian wears a shirt.",
    "ub-Sweater": "The pedestrian wears a sweater.",
    "ub-Vest": "The pedestrian wears a vest.",
    "ub-TShirt": "The pedestrian wears a T-shirt.",
    "ub-Cotton": "The pedestrian wears a cotton-padded coat.",
    "ub-Jacket": "The pedestrian wears a jacket.",
    "ub-SuitUp": "The pedestrian wears a suit.",
    "ub-Tight": "The pedestrian wears tight upper clothing.",
    "ub-ShortSleeve": "The pedestrian wears short sleeves.",
    "lb-LongTrousers": "The pedestrian wears long trousers.",
    "lb-Skirt": "The pedestrian wears a skirt.",
    "lb-ShortSkirt": "The pedestrian wears a short skirt.",
    "lb-Dress": "The pedestrian wears a dress.",
    "lb-Jeans": "The pedestrian wears jeans.",
    "lb-TightTrousers": "The pedestrian wears tight trousers.",
    "shoes-Leather": "The pedestrian wears leather shoes.",
    "shoes-Sport": "The pedestrian wears sport shoes.",
    "shoes-Boots": "The pedestrian wears boots.",
    "shoes-Cloth": "The pedestrian wears cloth shoes.",
    "shoes-Casual": "The pedestrian wears casual shoes.",
    "attach-Backpack": "The pedestrian carries a backpack.",
    "attach-SingleShoulderBag": "The pedestrian carries a single shoulder bag.",
    "attach-HandBag": "The pedestrian carries a hand bag.",
    "attach-Box": "The pedestrian carries a box.",
    "attach-PlasticBag": "The pedestrian carries a plastic bag.",
    "attach-PaperBag": "The pedestrian carries a paper bag.",
    "attach-HandTrunk": "The pedestrian pulls a hand trunk.",
    "attach-Other": "The pedestrian carries something else.",
    "action-Calling": "The pedestrian is making a phone call.",
    "action-Talking": "The pedestrian is talking.",
    "action-Gathering": "The pedestrian is gathering with others.",
    "action-Holding": "The pedestrian is holding something.",
    "action-Pusing": "The pedestrian is pushing something.",
    "action-Pulling": "The pedestrian is pulling something.",
    "action-CarrybyArm": "The pedestrian carries something by the arm.",
    "action-CarrybyHand": "The pedestrian carries something by the hand.",
}


def _words(name: str) -> str:
    """'upperBodyVNeck' -> 'upper body v neck'; 'lb-ShortSkirt' -> 'lb short skirt'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[-_&]+", " ", spaced).lower().strip()


def attribute_sentence(name: str) -> str:
    """A short English sentence stating the attribute, for the teacher's frozen text encoder."""
    if name in _SENTENCES:
        return _SENTENCES[name]
    return f"The pedestrian has the attribute {_words(name)}."


def attribute_sentences(names: list[str] | tuple[str, ...]) -> list[str]:
    """One sentence per attribute name, in the same order (unknown names get a generic sentence)."""
    return [attribute_sentence(str(n)) for n in names]


# The phrases VTB embeds with all-mpnet-base-v2 (its dataset/preprocess/pa100k.py and rap.py, attr_words),
# in the data sets' own attribute order. PETA has no list in VTB; SNN-PAR's peta.py lists phrases that
# `_words` reproduces from PETA's attribute names ("accessoryHat" -> "accessory hat").
VTB_PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {
    PA100K_ATTRIBUTES: (
        "female", "age over 60", "age 18 to 60", "age less 18", "front", "side", "back", "hat", "glasses",
        "hand bag", "shoulder bag", "backpack", "hold objects in front", "short sleeve", "long sleeve",
        "upper stride", "upper logo", "upper plaid", "upper splice", "lower stripe", "lower pattern", "long coat",
        "trousers", "shorts", "skirt and dress", "boots",
    ),
    RAP_ATTRIBUTES: (
        "female", "age less 16", "age 17 30", "age 31 45", "body fat", "body normal", "body thin", "customer",
        "clerk", "head bald head", "head long hair", "head black hair", "head hat", "head glasses", "head muffler",
        "upper shirt", "upper sweater", "upper vest", "upper t-shirt", "upper cotton", "upper jacket",
        "upper suit up", "upper tight", "upper short sleeve", "lower long trousers", "lower skirt",
        "lower short skirt", "lower dress", "lower jeans", "lower tight trousers", "shoes leather", "shoes sport",
        "shoes boots", "shoes cloth", "shoes casual", "attach backpack", "attach shoulder bag", "attach hand bag",
        "attach box", "attach plastic bag", "attach paper bag", "attach hand trunk", "attach other",
        "action calling", "action talking", "action gathering", "action holding", "action pushing",
        "action pulling", "action carry arm", "action carry hand",
    ),
}  # fmt: skip


def attribute_phrases(names: list[str] | tuple[str, ...]) -> list[str]:
    """The short phrases VTB's sentence encoder embeds, one per attribute name, in the same order."""
    names = tuple(str(n) for n in names)
    return list(VTB_PHRASES.get(names) or [_words(n) for n in names])
