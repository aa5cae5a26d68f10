"""Captions in several languages, with ``@handle`` mentions of other accounts.

A caption is written in one language from a hash value: mostly English, some Russian, Spanish,
German, French, Portuguese and Italian (:data:`LANGUAGES`). Its first sentence joins an action
and a place ("We spent the whole afternoon" + "at the old market"), at least six words; half of
the captions add a remark ("I cannot wait to come back here again."); a mention sentence in the
same language names one or two other accounts. Every sentence is real language, so a language
identifier (py3langid) finds the caption's language from the words alone.

The caller picks the mentioned accounts (:func:`mention_picks`) and passes their handles
without the ``@``; :class:`Caption` keeps them in order.
"""

# ruff: noqa: RUF001  # the Cyrillic letters are Russian words, not look-alikes of Latin ones

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from socialsim.world import randomness as rnd

LANGUAGES: tuple[tuple[str, int], ...] = (
    ("en", 60),
    ("ru", 10),
    ("es", 8),
    ("de", 7),
    ("fr", 6),
    ("pt", 5),
    ("it", 4),
)
"""ISO 639-1 code and weight (out of 100) of each caption language."""

_ACTIONS = 1
_PLACES = 2
_REMARKS = 3
_MENTION = 4
_LANGUAGE = 5
_PICKS = 6
_REMARK = 7


@dataclass(frozen=True, slots=True)
class Phrases:
    """One language's building blocks.

    Attributes:
        actions: clauses a place phrase completes.
        places: place phrases (with their preposition).
        remarks: whole sentences, each at least six words, with their final punctuation.
        mention: a sentence with ``{who}`` where the handles go.
        both: how two handles are joined (``{a} and {b}``).
    """

    actions: tuple[str, ...]
    places: tuple[str, ...]
    remarks: tuple[str, ...]
    mention: tuple[str, ...]
    both: str


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        actions=(
            "We spent the whole afternoon",
            "I finally went for a long walk",
            "Nothing beats a quiet morning",
            "Had a lovely coffee with my friends",
            "We watched the sunset together",
            "Another beautiful day for a picnic",
            "I found a tiny bookshop",
            "Our first family trip this year",
        ),
        places=(
            "at the old market",
            "by the sea",
            "in the mountains",
            "in the city centre",
            "in our little garden",
            "on the river bank",
            "near the train station",
        ),
        remarks=(
            "I cannot wait to come back here again.",
            "This is one of my favourite places in the world.",
            "The weather was perfect and everyone was happy.",
            "Sometimes the simple things make the best memories.",
            "Let me know what you think about this place.",
            "We will definitely do this again next weekend.",
        ),
        mention=(
            "Thank you {who} for this wonderful day.",
            "Photos taken by my good friend {who}.",
            "Always more fun when {who} comes along with us.",
        ),
        both="{a} and {b}",
    ),
    "ru": Phrases(
        actions=(
            "Мы провели весь день",
            "Наконец-то мы выбрались на прогулку",
            "Нет ничего лучше тихого утра",
            "Пили кофе с друзьями",
            "Мы вместе смотрели на красивый закат",
            "Ещё один прекрасный день для пикника",
            "Я нашла маленький книжный магазин",
        ),
        places=(
            "на старом рынке",
            "у моря",
            "в горах",
            "в центре города",
            "в нашем маленьком саду",
            "на берегу реки",
            "недалеко от вокзала",
        ),
        remarks=(
            "Очень хочется вернуться сюда ещё раз.",
            "Это одно из моих самых любимых мест.",
            "Погода была отличная, и все были счастливы.",
            "Иногда простые вещи дарят лучшие воспоминания.",
            "Напишите, что вы думаете об этом месте.",
            "Обязательно повторим это на следующих выходных.",
        ),
        mention=(
            "Спасибо {who} за этот чудесный день.",
            "Фотографии сделал мой хороший друг {who}.",
            "С {who} всегда гораздо веселее гулять.",
        ),
        both="{a} и {b}",
    ),
    "es": Phrases(
        actions=(
            "Pasamos toda la tarde",
            "Por fin di un paseo muy largo",
            "No hay nada mejor que una mañana tranquila",
            "Tomamos un café con mis amigos",
            "Vimos juntos la puesta de sol",
            "Otro día precioso para un picnic",
            "Encontré una pequeña librería",
        ),
        places=(
            "en el mercado antiguo",
            "junto al mar",
            "en las montañas",
            "en el centro de la ciudad",
            "en nuestro pequeño jardín",
            "a la orilla del río",
            "cerca de la estación de tren",
        ),
        remarks=(
            "No puedo esperar para volver aquí otra vez.",
            "Es uno de mis lugares favoritos del mundo.",
            "El tiempo fue perfecto y todos estaban felices.",
            "A veces las cosas simples dejan los mejores recuerdos.",
            "Decidme qué pensáis de este lugar tan bonito.",
            "Sin duda lo repetiremos el próximo fin de semana.",
        ),
        mention=(
            "Gracias {who} por este día tan maravilloso.",
            "Las fotos las hizo mi buen amigo {who}.",
            "Siempre es más divertido cuando viene {who} con nosotros.",
        ),
        both="{a} y {b}",
    ),
    "de": Phrases(
        actions=(
            "Heute waren wir den ganzen Tag",
            "Endlich wieder ein langer Spaziergang",
            "Es gibt nichts Schöneres als einen ruhigen Morgen",
            "Wir tranken einen Kaffee mit Freunden",
            "Gemeinsam sahen wir den Sonnenuntergang",
            "Noch ein wunderschöner Tag für ein Picknick",
            "Ich habe eine kleine Buchhandlung gefunden",
        ),
        places=(
            "auf dem alten Markt",
            "am Meer",
            "in den Bergen",
            "in der Innenstadt",
            "in unserem kleinen Garten",
            "am Ufer des Flusses",
            "in der Nähe vom Bahnhof",
        ),
        remarks=(
            "Ich kann es kaum erwarten, wieder hierher zu kommen.",
            "Das ist einer meiner liebsten Orte auf der Welt.",
            "Das Wetter war perfekt und alle waren glücklich.",
            "Manchmal machen die einfachen Dinge die schönsten Erinnerungen.",
            "Sagt mir, was ihr von diesem Ort haltet.",
            "Das machen wir nächstes Wochenende bestimmt wieder.",
        ),
        mention=(
            "Danke {who} für diesen wunderbaren Tag.",
            "Die Fotos hat mein guter Freund {who} gemacht.",
            "Mit {who} macht es einfach immer mehr Spaß.",
        ),
        both="{a} und {b}",
    ),
    "fr": Phrases(
        actions=(
            "Nous avons passé tout l'après-midi",
            "Enfin une longue promenade",
            "Rien ne vaut une matinée tranquille",
            "Un café avec mes amis",
            "Nous avons regardé le coucher du soleil ensemble",
            "Encore une belle journée pour un pique-nique",
            "J'ai trouvé une toute petite librairie",
        ),
        places=(
            "au vieux marché",
            "au bord de la mer",
            "à la montagne",
            "dans le centre-ville",
            "dans notre petit jardin",
            "sur les bords de la rivière",
            "près de la gare",
        ),
        remarks=(
            "J'ai vraiment hâte de revenir ici encore une fois.",
            "C'est un de mes endroits préférés au monde.",
            "Il faisait un temps parfait et tout le monde était content.",
            "Parfois les choses simples font les plus beaux souvenirs.",
            "Dites-moi ce que vous pensez de cet endroit.",
            "Nous le referons sûrement le week-end prochain.",
        ),
        mention=(
            "Merci {who} pour cette merveilleuse journée.",
            "Les photos sont de mon ami {who}, merci beaucoup.",
            "C'est toujours plus drôle quand {who} vient avec nous.",
        ),
        both="{a} et {b}",
    ),
    "pt": Phrases(
        actions=(
            "Passamos a tarde inteira",
            "Finalmente fiz uma longa caminhada",
            "Nada melhor do que uma manhã tranquila",
            "Tomamos um café com os meus amigos",
            "Vimos juntos o pôr do sol",
            "Mais um dia lindo para um piquenique",
            "Encontrei uma pequena livraria",
        ),
        places=(
            "no mercado antigo",
            "perto do mar",
            "nas montanhas",
            "no centro da cidade",
            "no nosso pequeno jardim",
            "na margem do rio",
            "perto da estação de comboios",
        ),
        remarks=(
            "Não vejo a hora de voltar aqui outra vez.",
            "É um dos meus lugares favoritos no mundo.",
            "O tempo estava perfeito e todos estavam felizes.",
            "Às vezes as coisas simples deixam as melhores lembranças.",
            "Digam o que vocês acham deste lugar.",
            "Com certeza vamos repetir no próximo fim de semana.",
        ),
        mention=(
            "Obrigado {who} por este dia maravilhoso.",
            "As fotografias foram tiradas pelo meu amigo {who}.",
            "É sempre mais divertido quando {who} vem conosco.",
        ),
        both="{a} e {b}",
    ),
    "it": Phrases(
        actions=(
            "Abbiamo passato tutto il pomeriggio",
            "Finalmente una lunga passeggiata",
            "Non c'è niente di meglio di una mattina tranquilla",
            "Un caffè con i miei amici",
            "Abbiamo guardato insieme il tramonto",
            "Un'altra bellissima giornata per un picnic",
            "Ho trovato una piccola libreria",
        ),
        places=(
            "al mercato vecchio",
            "in riva al mare",
            "in montagna",
            "nel centro della città",
            "nel nostro piccolo giardino",
            "sulla riva del fiume",
            "vicino alla stazione dei treni",
        ),
        remarks=(
            "Non vedo l'ora di tornare qui ancora una volta.",
            "È uno dei miei posti preferiti al mondo.",
            "Il tempo era perfetto e tutti erano felici.",
            "A volte le cose semplici regalano i ricordi più belli.",
            "Ditemi cosa ne pensate di questo posto.",
            "Lo rifaremo sicuramente il prossimo fine settimana.",
        ),
        mention=(
            "Grazie {who} per questa giornata meravigliosa.",
            "Le foto sono state scattate dal mio amico {who}.",
            "È sempre più divertente quando {who} viene con noi.",
        ),
        both="{a} e {b}",
    ),
}


@dataclass(frozen=True, slots=True)
class Caption:
    """A caption's text, its language and the handles it mentions (without ``@``)."""

    text: str
    language: str
    mentions: tuple[str, ...]


def language_of(value: int) -> str:
    """The language a hash value writes in (weights of :data:`LANGUAGES`)."""
    slot = rnd.mix(value, _LANGUAGE) % 100
    for code, weight in LANGUAGES:
        if slot < weight:
            return code
        slot -= weight
    return LANGUAGES[0][0]


def mention_picks(value: int, pool: int, exclude: int) -> list[int]:
    """Which accounts a caption mentions: none (two in three), one or two distinct indexes of
    ``[0, pool)``, never ``exclude`` (the author)."""
    h = rnd.mix(value, _PICKS)
    wanted = 0 if h % 12 < 8 else 1 if h % 12 < 11 else 2
    picks: list[int] = []
    for k in range(wanted):
        if pool - 1 - len(picks) <= 0:
            break
        # Walk from a hashed start to the next index that is neither the author nor taken.
        index = rnd.mix(h, k) % pool
        while index == exclude or index in picks:
            index = (index + 1) % pool
        picks.append(index)
    return picks


def _pick(options: tuple[str, ...], value: int, label: int) -> str:
    return options[rnd.mix(value, label) % len(options)]


def compose(value: int, mentions: Sequence[str] = ()) -> Caption:
    """A caption from a hash value, naming ``mentions`` (handles without ``@``).

    Args:
        value: the hash the caption is drawn from (the same value, the same caption).
        mentions: handles of the accounts mentioned, usually from :func:`mention_picks`.

    Returns:
        The caption, without hashtags or emoji (the caller adds its platform's).
    """
    language = language_of(value)
    phrases = PHRASES[language]
    action = _pick(phrases.actions, value, _ACTIONS)
    sentences = [f"{action} {_pick(phrases.places, value, _PLACES)}."]
    if rnd.mix(value, _REMARK) % 2:
        sentences.append(_pick(phrases.remarks, value, _REMARKS))
    if mentions:
        handles = [f"@{handle}" for handle in mentions]
        who = handles[0] if len(handles) == 1 else phrases.both.format(a=handles[0], b=handles[1])
        sentences.append(_pick(phrases.mention, value, _MENTION).format(who=who))
    return Caption(" ".join(sentences), language, tuple(mentions))
