"""Word lists that give simulated people and posts readable names and texts."""

from __future__ import annotations

FIRST_NAMES = (
    "Anna",
    "Boris",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Irina",
    "Jamal",
    "Katya",
    "Luis",
    "Maya",
    "Nikolai",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sergei",
    "Tanya",
    "Umar",
    "Vera",
    "Wanda",
    "Xenia",
    "Yuri",
    "Zoe",
    "Amir",
    "Bianca",
    "Chen",
    "Daria",
    "Emil",
    "Fatima",
    "Gleb",
    "Hana",
    "Ivan",
    "Jana",
    "Kirill",
    "Lena",
    "Marco",
    "Nina",
)

LAST_NAMES = (
    "Ivanova",
    "Petrov",
    "Smith",
    "Garcia",
    "Kowalski",
    "Novak",
    "Rossi",
    "Muller",
    "Silva",
    "Sato",
    "Kim",
    "Nguyen",
    "Popescu",
    "Horvat",
    "Jensen",
    "Larsen",
    "Moreau",
    "Costa",
    "Orlova",
    "Volkov",
    "Bauer",
    "Dubois",
    "Fischer",
    "Romano",
    "Lopez",
    "Haddad",
    "Okafor",
    "Tanaka",
    "Wong",
    "Yilmaz",
)

TOPICS = (
    "travel",
    "food",
    "fitness",
    "photography",
    "gardening",
    "coffee",
    "design",
    "music",
    "books",
    "cycling",
    "yoga",
    "baking",
    "fashion",
    "tech",
    "mountains",
    "sea",
    "dogs",
    "cats",
    "art",
    "street",
    "vintage",
    "plants",
    "running",
    "chess",
)

WORDS = (
    "sunny",
    "morning",
    "with",
    "friends",
    "new",
    "favourite",
    "today",
    "weekend",
    "love",
    "this",
    "view",
    "finally",
    "back",
    "home",
    "little",
    "big",
    "day",
    "light",
    "summer",
    "winter",
    "walk",
    "city",
    "garden",
    "coffee",
    "again",
    "best",
    "ever",
    "so",
    "happy",
    "moments",
    "tiny",
    "golden",
    "hour",
    "road",
    "trip",
    "market",
    "fresh",
    "green",
    "blue",
)

EMOJI = ("🔥", "😍", "👏", "❤️", "✨", "🙌", "😂", "🌿", "☕", "📸")


def pick(options: tuple[str, ...], value: int) -> str:
    """One of ``options`` chosen by a hash value."""
    return options[value % len(options)]


def sentence(value: int, words: int) -> str:
    """A short pseudo-sentence made from a hash value."""
    parts = []
    for _ in range(max(1, words)):
        parts.append(WORDS[value % len(WORDS)])
        value //= len(WORDS)
        if not value:
            value = 0x9E3779B97F4A7C15 + len(parts)
    text = " ".join(parts)
    return text[0].upper() + text[1:] + " " + EMOJI[value % len(EMOJI)]
