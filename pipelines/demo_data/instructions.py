"""Demo instruction data for PASER: templated samples of five known capabilities.

``instructions`` (id, instruction, input, output, capability): arithmetic, translation (an English to
French word mapping), summarisation, code and factual QA, each from a few templates with seeded
fillers, so clusters can be checked against ``capability`` (the benchmark's adjusted Rand index).
"""
from __future__ import annotations

import random

import pandas as pd

from pipelines.demo_data import DemoTable

CAPABILITIES = ("arithmetic", "translation", "summarization", "code", "qa")

_FRENCH = {"cat": "chat", "dog": "chien", "house": "maison", "water": "eau", "bread": "pain", "apple": "pomme",
           "book": "livre", "car": "voiture", "tree": "arbre", "sun": "soleil", "moon": "lune", "city": "ville",
           "friend": "ami", "school": "école", "road": "route", "milk": "lait", "cheese": "fromage",
           "window": "fenêtre", "door": "porte", "flower": "fleur"}
_CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Kenya": "Nairobi", "Peru": "Lima", "Canada": "Ottawa",
             "Egypt": "Cairo", "Norway": "Oslo", "Chile": "Santiago", "India": "New Delhi", "Spain": "Madrid",
             "Italy": "Rome", "Ghana": "Accra", "Poland": "Warsaw", "Cuba": "Havana", "Nepal": "Kathmandu"}
_CONTINENTS = {"France": "Europe", "Japan": "Asia", "Kenya": "Africa", "Peru": "South America",
               "Canada": "North America", "Egypt": "Africa", "Norway": "Europe", "Chile": "South America",
               "India": "Asia", "Spain": "Europe", "Italy": "Europe", "Ghana": "Africa", "Poland": "Europe",
               "Cuba": "North America", "Nepal": "Asia"}
_SUBJECTS = ("The committee", "A farmer", "The old bridge", "Our team", "The river", "A young student",
             "The museum", "The local bakery")
_EVENTS = ("was closed for repairs after the storm", "won the regional award this spring",
           "reported record visitors during the festival", "started a new recycling programme",
           "flooded the nearby fields in April", "hired three new engineers last month")
_DETAILS = ("Officials expect the work to last several weeks.", "Residents welcomed the news.",
            "The mayor praised the effort in a speech.", "Critics said more funding is needed.",
            "Photos of the event were shared widely online.")
_CODE_OPS = {"sum": "return sum(xs)", "maximum": "return max(xs)", "minimum": "return min(xs)",
             "length": "return len(xs)", "reversed copy": "return list(reversed(xs))",
             "sorted copy": "return sorted(xs)", "average": "return sum(xs) / len(xs)"}


def _arithmetic(rng: random.Random) -> tuple[str, str, str]:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    kind = rng.randrange(4)
    if kind == 0:
        return f"What is the sum of {a} and {b}?", "", str(a + b)
    if kind == 1:
        return "Add the two numbers and give the total.", f"{a}, {b}", str(a + b)
    if kind == 2:
        return f"Compute {a} multiplied by {b}.", "", str(a * b)
    return f"Subtract {b} from {a} and state the difference.", "", str(a - b)


def _translation(rng: random.Random) -> tuple[str, str, str]:
    word = rng.choice(sorted(_FRENCH))
    kind = rng.randrange(3)
    if kind == 0:
        return f"Translate the English word '{word}' into French.", "", _FRENCH[word]
    if kind == 1:
        return "Give the French translation of this English word.", word, _FRENCH[word]
    return f"How do you say '{word}' in French?", "", f"In French, '{word}' is '{_FRENCH[word]}'."


def _summarization(rng: random.Random) -> tuple[str, str, str]:
    subject, event = rng.choice(_SUBJECTS), rng.choice(_EVENTS)
    details = " ".join(rng.sample(_DETAILS, 2))
    text = f"{subject} {event}. {details}"
    instruction = rng.choice(("Summarize the following paragraph in one sentence.",
                              "Write a one-sentence summary of the text below.",
                              "Condense this short news report into a single sentence."))
    return instruction, text, f"{subject} {event}."


def _code(rng: random.Random) -> tuple[str, str, str]:
    op = rng.choice(sorted(_CODE_OPS))
    name = op.replace(" ", "_")
    instruction = rng.choice((f"Write a Python function that returns the {op} of a list of numbers.",
                              f"Implement a Python function computing the {op} of a list.",
                              f"Complete the Python code so the function returns the {op} of its input list."))
    return instruction, "", f"def list_{name}(xs):\n    {_CODE_OPS[op]}"


def _qa(rng: random.Random) -> tuple[str, str, str]:
    country = rng.choice(sorted(_CAPITALS))
    if rng.random() < 0.6:
        return f"What is the capital city of {country}?", "", f"The capital of {country} is {_CAPITALS[country]}."
    return f"On which continent is {country} located?", "", f"{country} is in {_CONTINENTS[country]}."


_MAKERS = {"arithmetic": _arithmetic, "translation": _translation, "summarization": _summarization,
           "code": _code, "qa": _qa}


def instruction_frame(num_per_capability: int = 120, seed: int = 0) -> pd.DataFrame:
    """``num_per_capability`` samples of each capability, ids 0.. in a seeded shuffle."""
    rng = random.Random(seed)
    rows = []
    for capability in CAPABILITIES:
        for _ in range(num_per_capability):
            instruction, inp, out = _MAKERS[capability](rng)
            rows.append((instruction, inp, out, capability))
    rng.shuffle(rows)
    return pd.DataFrame([(i, *r) for i, r in enumerate(rows)],
                        columns=["id", "instruction", "input", "output", "capability"])


def generate(seed: int = 0) -> list[DemoTable]:
    return [DemoTable("instructions", instruction_frame(120, seed),
                      schema="id long, instruction string, input string, output string, capability string")]
