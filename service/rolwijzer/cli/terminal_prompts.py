"""The intake's prompts in a real terminal: arrow keys or number shortcuts (questionary), hints in the language.

Apart from ask.py so that piped intakes and every other command start without loading prompt_toolkit.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import questionary
from prompt_toolkit import print_formatted_text
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.key_bindings import Binding, KeyHandlerCallable
from prompt_toolkit.keys import Keys
from questionary.constants import DEFAULT_STYLE
from questionary.prompts.common import InquirerControl

from rolwijzer.cli.ask import NumberCheck, Prompts, many_problem
from rolwijzer.cli.messages import say
from rolwijzer.cli.render import words

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
            # j and k would move the highlight, and are the shortcuts of the 20th and 21st answers.
            prompt = questionary.select(
                question, choices=options, use_shortcuts=shortcuts, use_jk_keys=False, instruction=hint
            )
            keys = [str(o.shortcut_key) for o in options if o.shortcut_key] if shortcuts else []
            _refuse_enter_after_other_digits(prompt, keys)
            answer = prompt.unsafe_ask()
            if not isinstance(answer, _OtherKey):
                return None if answer is None else str(answer)
            shown = f"{keys[0]}-{keys[-1]}" if keys else ""
            print(say(language, "no_such_answer", typed=answer.key, keys=shown), flush=True)

    def pick_many(question: str, choices: list[tuple[str, str]]) -> list[str] | None:
        shortcuts = InquirerControl.SHORTCUT_KEYS
        keys = shortcuts[: len(choices)] if len(choices) <= len(shortcuts) else []
        titles = [f"{key}) {label}" for key, (_, label) in zip(keys, choices, strict=True)] if keys else None
        options = [
            questionary.Choice(titles[index] if titles else label, value=value)
            for index, (value, label) in enumerate(choices)
        ]
        prompt = questionary.checkbox(
            question,
            choices=options,
            instruction=say(language, "pick_many_hint" if keys else "pick_many_hint_space"),
            validate=lambda chosen: many_problem(chosen, language) or True,
            use_jk_keys=False,
            # questionary would leave "done" or "done (2 selections)" as the answer, which reads like the answer
            # that stops the questions and hides what was chosen: the prompt goes, and `_echo` says what was.
            erase_when_done=True,
        )
        _toggle_by_key(prompt, keys)
        answer = prompt.unsafe_ask()
        if answer is None:
            return None
        chosen = [str(value) for value in answer]
        labels = dict(choices)
        _echo(question, ", ".join(labels[value] for value in chosen) or words(language)["none"])
        return chosen

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


def _toggle_by_key(prompt: questionary.Question, keys: list[str]) -> None:
    """Make each of `keys` tick or clear the answer it labels, as a number does in a pipe, and take away
    questionary's keys that tick every answer (a) or turn each over (i): one slip would answer every task."""
    application = prompt.application
    bindings = application.key_bindings
    if not isinstance(bindings, KeyBindings):
        return
    for key in ("a", "i"):
        bindings.remove(key)
    controls = [c for c in application.layout.find_all_controls() if isinstance(c, InquirerControl)]
    space = [b.handler for b in bindings.bindings if b.keys == (" ",)]
    if len(controls) != 1 or len(space) != 1:
        return
    control, toggle_pointed = controls[0], space[0]

    def toggler(index: int) -> KeyHandlerCallable:
        def toggle(event: KeyPressEvent) -> object:
            control.pointed_at = index
            return toggle_pointed(event)

        return toggle

    for index, key in enumerate(keys):
        bindings.add(key, eager=True)(toggler(index))


def _echo(question: str, answer: str) -> None:
    """The question with its answer, as questionary leaves an answered question."""
    tokens = [("class:qmark", "?"), ("class:question", f" {question} "), ("class:answer", answer)]
    print_formatted_text(FormattedText(tokens), style=DEFAULT_STYLE)


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
