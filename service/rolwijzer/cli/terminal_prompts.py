"""The intake's prompts in a real terminal: arrow keys or number shortcuts (questionary), hints in the language.

Apart from ask.py so that piped intakes and every other command start without loading prompt_toolkit.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import questionary
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.key_bindings import Binding, KeyHandlerCallable
from prompt_toolkit.keys import Keys

from rolwijzer.cli.ask import NumberCheck, Prompts
from rolwijzer.cli.messages import say

__all__ = ["terminal_picker", "terminal_text"]


@dataclass(frozen=True)
class _OtherKey:
    """The result of a picker left with Enter after a digit that is no answer's shortcut."""

    key: str


def terminal_picker(language: str) -> Prompts:
    """Arrow keys or the number shortcut in a real terminal (questionary), with the hints in `language`.

    Ctrl-C raises KeyboardInterrupt (questionary's `.ask()` would print "Cancelled by user" and carry on as if no
    answer was given); Ctrl-D in a text prompt ends the input, as the end of piped input does.
    """

    def pick(question: str, choices: list[tuple[str, str]]) -> str | None:
        while True:
            options = [questionary.Choice(label, value=value) for value, label in choices]
            shortcuts = len(options) <= 36
            hint = say(language, "pick_hint" if shortcuts else "pick_hint_arrows")
            prompt = questionary.select(question, choices=options, use_shortcuts=shortcuts, instruction=hint)
            keys = [str(o.shortcut_key) for o in options if o.shortcut_key] if shortcuts else []
            _refuse_enter_after_other_digits(prompt, keys)
            answer = prompt.unsafe_ask()
            if not isinstance(answer, _OtherKey):
                return None if answer is None else str(answer)
            shown = f"{keys[0]}-{keys[-1]}" if keys else ""
            print(say(language, "no_such_answer", typed=answer.key, keys=shown), flush=True)

    def pick_many(question: str, choices: list[tuple[str, str]]) -> list[str] | None:
        options = [questionary.Choice(label, value=value) for value, label in choices]
        prompt = questionary.checkbox(question, choices=options, instruction=say(language, "pick_many_hint"))
        answer = prompt.unsafe_ask()
        return None if answer is None else [str(value) for value in answer]

    def ask_number(question: str, check: NumberCheck) -> str | None:
        return _text(questionary.text(question, validate=lambda text: check(text) or True))

    def tell(message: str) -> None:
        print(f"\n{message}", flush=True)

    return Prompts(pick, pick_many, ask_number, tell)


def _refuse_enter_after_other_digits(prompt: questionary.Question, keys: list[str]) -> None:
    """Make Enter after a digit that is no answer's shortcut end the picker with `_OtherKey`.

    questionary ignores such a digit, so "5, Enter" on four answers took the highlighted one. The digit is remembered
    until another key that does something (a shortcut, an arrow) is pressed; Enter then takes the highlighted answer
    as before. Ctrl-C keeps raising KeyboardInterrupt.
    """
    bindings = prompt.application.key_bindings
    if not isinstance(bindings, KeyBindings):
        return
    typed: list[str] = []  # the digit typed last when it is no answer's shortcut
    enter: Binding | None = None
    for binding in list(bindings.bindings):
        if binding.keys == (Keys.ControlM,):
            enter = binding
        elif binding.keys not in ((Keys.Any,), (Keys.ControlC,), (Keys.ControlQ,)):
            binding.handler = _forgetting(binding.handler, typed)
    if enter is None:
        return
    take_highlighted = enter.handler

    def remember(event: KeyPressEvent) -> None:
        typed[:] = [event.data]

    def on_enter(event: KeyPressEvent) -> None:
        if typed:
            event.app.exit(result=_OtherKey(typed[0]))
        else:
            take_highlighted(event)

    for digit in sorted(set(string.digits) - set(keys)):
        bindings.add(digit, eager=True)(remember)
    bindings.add(Keys.ControlM, eager=True)(on_enter)  # the binding added last for a key is the one called


def _forgetting(handler: KeyHandlerCallable, typed: list[str]) -> KeyHandlerCallable:
    def handle(event: KeyPressEvent) -> object:
        typed.clear()
        return handler(event)

    return handle


def terminal_text(question: str) -> str | None:
    """A line of text typed in a real terminal, or None when the input ends (Ctrl-D)."""
    return _text(questionary.text(question))


def _text(prompt: questionary.Question) -> str | None:
    try:
        answer = prompt.unsafe_ask()
    except EOFError:
        return None
    return None if answer is None else str(answer)
