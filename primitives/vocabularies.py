"""Token vocabularies for induction copying: common words, letters, digits and made-up syllables.

Words are short, common and lower-case so that most tokenizers keep each one a single token; syllables are
consonant-vowel pairs (a few, like "go", happen to be words), so a model cannot lean on word statistics.
"""

import string

WORDS = tuple(
    """
apple arm baby back ball bank bed bell bird boat body bone book boot box boy bread bridge brother cake
camera car card cat chair chest child city clock cloud coat coffee corn cow cup desk dog door dream dress
drum duck ear earth egg engine eye face farm field film finger fire fish flag floor flower fly foot forest
fork friend frog fruit game garden gate gift girl glass gold grass hair hand hat head heart hill horse
house ice iron island jacket jam key king kitchen knife lake lamp leaf leg letter lion lip map market milk
moon mother mountain mouse mouth music nail name neck nest night nose ocean oil orange page paint paper
park pen pencil phone piano picture pig pipe plane plant plate pocket queen rabbit radio rain ring river
road rock roof room root rope rose salt sand school sea seed sheep shirt shoe shop silver sister sky snake
snow sock song spoon star stone street sugar sun table tail tea teeth tent tiger toe tooth town toy train
tree truck wall watch water wheel window wine wing winter wolf wood world yard
""".split()
)

LETTERS = tuple(string.ascii_lowercase)
DIGITS = tuple(string.digits)
SYLLABLES = tuple(consonant + vowel for consonant in "bdfgklmnprstvz" for vowel in "aeiou")

VOCABULARIES = {"words": WORDS, "letters": LETTERS, "digits": DIGITS, "syllables": SYLLABLES}
# How the instruction names one token of each vocabulary.
UNITS = {"words": "word", "letters": "letter", "digits": "digit", "syllables": "syllable"}
