"""Human-friendly three-word names for workspaces (`swift-blue-river`)."""

import secrets

ADJECTIVES = ["swift", "bright", "calm", "bold", "brave", "clever", "eager", "gentle", "happy", "jolly", "keen", "lively", "merry", "noble", "proud", "quiet", "rapid", "sharp", "silent", "steady", "sunny", "tidy", "vivid", "warm", "wise", "witty", "zesty", "amber", "cosmic", "crisp"]
COLOURS = ["blue", "green", "red", "gold", "silver", "violet", "orange", "teal", "coral", "indigo", "ivory", "jade", "olive", "pearl", "ruby", "scarlet", "cyan", "lime", "navy", "plum", "rose", "sage", "slate", "tan", "azure", "bronze", "copper", "crimson", "ember"]
NOUNS = ["river", "mountain", "cloud", "forest", "meadow", "ocean", "canyon", "valley", "harbor", "island", "lake", "comet", "falcon", "fox", "otter", "heron", "maple", "cedar", "willow", "breeze", "dune", "glacier", "lagoon", "prairie", "reef", "summit", "tundra", "delta", "grove"]


def three_word_name() -> str:
    """A random `adjective-colour-noun` name; ~27k combinations, so callers retry on a clash."""
    pick = secrets.choice
    return f"{pick(ADJECTIVES)}-{pick(COLOURS)}-{pick(NOUNS)}"
