"""The agent's side of one sandbox call, as Retell's agents behave: greet, listen, answer, yield.

The agent greets, then waits for the visitor to speak (``harness.hearing``). A visitor's turn
goes into the transcript as their script's line, revealed while they speak, as streaming speech
recognition would; when they stop, the agent answers with the next scripted line. A visitor who
speaks over the agent stops it at once (barge-in): its audio stops, ``agent_stop_talking`` goes
out, and its utterance keeps only the words it got out. Every change sends Retell's ``update``:
the last five utterances, the newest growing word by word, with ``turntaking`` when the turn
changes. The call ends when the script hangs up, when the visitor stays silent for the agent's
``end_call_after_silence_ms`` after it spoke (``inactivity``), or at its ``max_call_duration_ms``
(``max_duration_reached``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from harness.call import Call
from harness.script import Script, fill
from harness.speech import Voices
from harness.transcript import Utterance
from harness.voice import AgentVoice, Playback

# While a visitor speaks, one more word of their line every this many seconds (the last one
# waits for the end of their turn).
WORD_SECONDS = 0.3


class Dialogue:
    def __init__(self, call: Call, script: Script, voices: Voices, voice: AgentVoice,
                 send: Callable[[dict], None], leave: Callable[[str, str | None], Awaitable[None]]) -> None:
        self.call = call
        self.script = script
        self.voices = voices
        self.voice = voice
        self._send = send
        self._leave = leave
        self._turns: asyncio.Queue[tuple[int, float]] = asyncio.Queue()  # finished visitor turns: (n, when they stopped)
        self._heard = 0  # visitor turns begun
        self._speaking: Playback | None = None
        self._listening: Utterance | None = None
        self._growing: asyncio.Task[None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._turntaking: str | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    async def run(self) -> None:
        """Greet, then answer every visitor turn until the call ends (or this task is cancelled)."""
        limit = self.script.max_call_duration_ms
        # From the call's start, as Retell counts it (the agent begins a moment later).
        left = limit - max(0, int(time.time() * 1000) - (self.call.start_timestamp or 0))
        self._timer("max_duration", left, "max_duration_reached", f"the call reached the agent's max_call_duration_ms ({limit})")
        await self._say(self.script.greeting)
        while True:
            n, stopped = await self._turns.get()
            turn = self.script.turn(n)
            said = await self._say(turn.agent, after=stopped)
            if turn.hang_up and not said.interrupted:
                await self._leave("agent_hangup", None)
                return

    # -- what the agent hears (harness.hearing's SpeechDetector) --------------------------------

    def heard_start(self, began: float) -> None:
        self._cancel("silence")
        if self._speaking is not None:
            # Barge-in: the agent stops mid-line, as Retell's agents do when interrupted.
            playback = self._speaking
            self.voice.interrupt()
            self.call.barge_ins.append({"at": int(began * 1000),
                                        "stopped_after_ms": round(((playback.stopped or began) - began) * 1000, 1)})
        n = self._heard
        self._heard += 1
        self._listening = self.call.transcript.begin("user", self.script.turn(n).user)
        self._words(self._listening, 1, began, began + WORD_SECONDS)
        self._growing = self._spawn(self._grow(self._listening))

    def heard_end(self, stopped: float) -> None:
        utterance, self._listening = self._listening, None
        if self._growing is not None:
            self._growing.cancel()
            self._growing = None
        if utterance is None:
            return
        last = self._epoch(utterance.words[-1]["end"]) if utterance.words else stopped
        self._words(utterance, len(utterance.remaining), min(last, stopped), stopped)
        self._turns.put_nowait((self._heard - 1, stopped))

    async def _grow(self, utterance: Utterance) -> None:
        while len(utterance.remaining) > 1:
            await asyncio.sleep(WORD_SECONDS)  # the pace of streaming recognition, not synchronisation
            now = time.time()
            self._words(utterance, 1, now, now + WORD_SECONDS)

    # -- what the agent says --------------------------------------------------------------------

    async def _say(self, line: str, after: float | None = None) -> Playback:
        filled = fill(line, self.call.dynamic_variables)
        # A line with the call's own values was not spoken in advance: espeak-ng runs off the loop.
        speech = self.voices.get(line) if filled == line else await asyncio.to_thread(self.voices.get, filled)
        line = filled
        utterance = self.call.transcript.begin("agent", line)
        self._cancel("silence")
        playback = self.voice.say(speech)
        self._speaking = playback
        self._send({"event_type": "agent_start_talking"})
        said = self._spawn(self._reveal(utterance, speech.seconds, time.time()))
        try:
            await playback.done.wait()
        finally:
            said.cancel()
        self._speaking = None
        if not playback.interrupted:
            self._words(utterance, len(utterance.remaining), time.time(), time.time())
        elif not utterance.words:
            self.call.transcript.utterances.remove(utterance)  # cut off before its first word
        self._update()
        self._send({"event_type": "agent_stop_talking"})
        if after is not None and playback.started is not None:
            self.call.turn_latencies_ms.append(round((playback.started - after) * 1000, 1))
        if self._listening is None:
            silence = self.script.end_call_after_silence_ms
            self._timer("silence", silence, "inactivity", f"the visitor said nothing for {silence} ms after the agent spoke")
        return playback

    async def _reveal(self, utterance: Utterance, seconds: float, began: float) -> None:
        """The agent's words as its audio plays them: each at its share of the line's length."""
        words = utterance.remaining
        total = sum(len(w) + 1 for w in words) or 1
        offset = 0.0
        for word in words:
            share = seconds * (len(word) + 1) / total
            await asyncio.sleep(max(0.0, began + offset - time.time()))  # the audio's own pace
            self._words(utterance, 1, began + offset, began + offset + share)
            offset += share

    # -- the transcript and Retell's events -----------------------------------------------------

    def _words(self, utterance: Utterance, count: int, start: float, end: float) -> None:
        if self.call.transcript.say(utterance, count, self._seconds(start), self._seconds(end)):
            self._update()

    def _update(self) -> None:
        update: dict = {"event_type": "update", "transcript": self.call.transcript.window()}
        turntaking = "agent_turn" if self._speaking is not None else "user_turn"
        if turntaking != self._turntaking:
            update["turntaking"] = self._turntaking = turntaking
        self._send(update)

    def _seconds(self, at: float) -> float:
        """``at`` (time.time()) in seconds into the call, as Retell times words."""
        return max(0.0, at - (self.call.start_timestamp or 0) / 1000)

    def _epoch(self, seconds: float) -> float:
        return seconds + (self.call.start_timestamp or 0) / 1000

    # -- endings --------------------------------------------------------------------------------

    def _timer(self, name: str, ms: int, reason: str, detail: str) -> None:
        self._cancel(name)
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(ms / 1000, lambda: self._spawn(self._leave(reason, detail)))

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _spawn(self, work: Awaitable) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def close(self) -> None:
        self._closed = True
        for name in list(self._timers):
            self._cancel(name)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            self.voice.interrupt()
