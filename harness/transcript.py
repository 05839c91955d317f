"""A call's transcript as Retell keeps it: utterances that grow word by word as they are spoken.

The agent's words come out as its audio plays; the visitor's as the sandbox hears them (it has
no speech recognition: a visitor's utterance is its script's line, revealed while they speak).
Retell's web SDK hands pages only the last five utterances in each ``update`` (``window``);
its call object has the whole conversation, as text (``text``) and with word timings
(``objects``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = 5  # utterances per update: "only contains last 5 sentences to avoid the payload being too large"


@dataclass
class Utterance:
    role: str  # "agent" or "user"
    line: str  # everything it will say, once finished
    words: list[dict] = field(default_factory=list)  # the words out so far: {"word", "start", "end"} (seconds into the call)

    @property
    def content(self) -> str:
        return " ".join(w["word"] for w in self.words)

    @property
    def remaining(self) -> list[str]:
        return self.line.split()[len(self.words):]


@dataclass
class Transcript:
    utterances: list[Utterance] = field(default_factory=list)

    def begin(self, role: str, line: str) -> Utterance:
        utterance = Utterance(role, line)
        self.utterances.append(utterance)
        return utterance

    def say(self, utterance: Utterance, count: int, start: float, end: float) -> bool:
        """Reveals the next ``count`` words of ``utterance``, spread from ``start`` to ``end``
        (seconds into the call); False if it had none left."""
        words = utterance.remaining[:max(0, count)]
        step = (end - start) / len(words) if words else 0.0
        for i, word in enumerate(words):
            utterance.words.append({"word": word, "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3)})
        return bool(words)

    def window(self) -> list[dict[str, str]]:
        """What an ``update`` carries: the last utterances with a word out, oldest first."""
        spoken = [u for u in self.utterances[-WINDOW - 1:] if u.words][-WINDOW:]
        return [{"role": u.role, "content": u.content} for u in spoken]

    def text(self) -> str:
        """The call object's ``transcript``: "Agent: ...\\nUser: ...\\n"."""
        return "".join(f"{u.role.capitalize()}: {u.content}\n" for u in self.utterances if u.words)

    def objects(self) -> list[dict]:
        """The call object's ``transcript_object``: each utterance with its words' timings."""
        return [{"role": u.role, "content": u.content, "words": [dict(w) for w in u.words]} for u in self.utterances if u.words]

    def lines(self, role: str) -> list[str]:
        return [u.content for u in self.utterances if u.role == role and u.words]
