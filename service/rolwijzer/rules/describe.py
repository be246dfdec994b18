"""Write conditions and conclusions as a person reads them, for catalogues and explanations."""

from __future__ import annotations

from rolwijzer.rules.model import (
    AggregateTest,
    AllOf,
    AnyOf,
    CodeTest,
    Conclusion,
    Condition,
    DeployerTest,
    FactOp,
    FactTest,
    GroupRef,
    Named,
    Not,
    ParamRef,
    ParamTest,
    RoleTest,
    RuleSet,
    Text,
)
from rolwijzer.rules.texts import RenderedTexts

__all__ = ["Readable", "condition_text"]

_OPS = {
    FactOp.IS: "is",
    FactOp.IS_NOT: "is not",
    FactOp.IN: "is one of",
    FactOp.ABOVE: ">",
    FactOp.AT_LEAST: ">=",
    FactOp.AT_MOST: "<=",
    FactOp.BELOW: "<",
    FactOp.CONTAINS: "contains",
    FactOp.CONTAINS_ANY: "contains any of",
    FactOp.ONLY: "contains only",
}


def condition_text(cond: Condition) -> str:
    """The condition in one line, predicates by name, for example "related and regularity is structural"."""
    match cond:
        case AllOf(items):
            return " and ".join(_wrapped(c) for c in items)
        case AnyOf(items):
            return " or ".join(_wrapped(c) for c in items)
        case Not(item):
            return f"not {_wrapped(item)}"
        case Named(name, _):
            return name
        case ParamTest(param, value):
            return f"parameter {param} is {value}"
        case RoleTest(roles):
            return f"role is {_alternatives(roles)}"
        case DeployerTest(deployers):
            return f"deployer is {_alternatives(deployers)}"
        case CodeTest(codes):
            return f"earlier code {_alternatives(codes)}"
        case AggregateTest(name, value):
            return name.replace("_", " ") if value else f"not {name.replace('_', ' ')}"
        case FactTest(fact, op, operand):
            if op == FactOp.KNOWN:
                return f"{fact} is known"
            if op == FactOp.ABSENT:
                return f"{fact} is not given"
            if op == FactOp.CONFLICTING:
                return "a fact is given as one_of"
            return f"{fact} {_OPS[op]} {_operand(operand)}"
    return repr(cond)


def _wrapped(cond: Condition) -> str:
    text = condition_text(cond)
    return f"({text})" if isinstance(cond, AllOf | AnyOf) else text


def _alternatives(values: tuple[str, ...]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)


def _operand(operand: object) -> str:
    if isinstance(operand, GroupRef):
        return f"group {operand.name}"
    if isinstance(operand, ParamRef):
        return f"parameter {operand.name}"
    if isinstance(operand, tuple):
        return "[" + ", ".join(operand) + "]"
    if isinstance(operand, float):
        return f"{operand:g}"
    return str(operand)


# The words around the rule files' own texts in a readable condition or conclusion. Only grammar lives here: every
# question, answer label, group and predicate explanation comes from the release itself.
_READABLE: dict[str, dict[str, str]] = {
    "nl": {
        "and": " en ",
        "or": " of ",
        "not": "het is niet zo dat {0}",
        "is": "{q} is {v}",
        "is_not": "{q} is niet {v}",
        "in": "{q} is een van: {v}",
        "group": "{q} valt onder: {v}",
        "above": "{q} is meer dan {v}",
        "at_least": "{q} is minstens {v}",
        "at_most": "{q} is hoogstens {v}",
        "below": "{q} is minder dan {v}",
        "contains": "{q} omvat {v}",
        "contains_any": "{q} omvat een van: {v}",
        "only": "{q} omvat alleen: {v}",
        "known": "{q} is beantwoord",
        "absent": "{q} is niet opgegeven",
        "conflicting": "een feit is met meer dan één waarde opgegeven",
        "param": "parameter {0} is {1}",
        "role": "de rol is {0}",
        "deployer": "de vrijwilliger is ingezet door {0}",
        "code": "eerder vastgesteld: {0}",
        "role_determined": "de rol is in elke combinatie dezelfde",
        "not_role_determined": "de rol verschilt tussen de combinaties",
        "deployer_determined": "wie de vrijwilliger inzette is in elke combinatie dezelfde",
        "not_deployer_determined": "wie de vrijwilliger inzette verschilt tussen de combinaties",
        "liability_determined": "de aansprakelijkheid is in elke combinatie dezelfde",
        "not_liability_determined": "de aansprakelijkheid verschilt tussen de combinaties",
        "all_volunteer": "elke combinatie leidt tot VRIJWILLIGER",
        "not_all_volunteer": "niet elke combinatie leidt tot VRIJWILLIGER",
        "one_of": " of ",
        "conclude_role": "rol {0}",
        "conclude_deployer": "ingezet door {0}",
        "conclude_set": "{q} wordt {v}",
        "conclude_exclude": "niet doorrekenen: {q} {v}",
        "conclude_nothing": "geen code (wel vastgelegd als toegepast)",
    },
    "en": {
        "and": " and ",
        "or": " or ",
        "not": "it is not the case that {0}",
        "is": "{q} is {v}",
        "is_not": "{q} is not {v}",
        "in": "{q} is one of: {v}",
        "group": "{q} falls under: {v}",
        "above": "{q} is more than {v}",
        "at_least": "{q} is at least {v}",
        "at_most": "{q} is at most {v}",
        "below": "{q} is less than {v}",
        "contains": "{q} includes {v}",
        "contains_any": "{q} includes one of: {v}",
        "only": "{q} includes only: {v}",
        "known": "{q} is answered",
        "absent": "{q} is not given",
        "conflicting": "a fact is given with more than one value",
        "param": "parameter {0} is {1}",
        "role": "the role is {0}",
        "deployer": "the volunteer was deployed by {0}",
        "code": "concluded earlier: {0}",
        "role_determined": "the role is the same in every combination",
        "not_role_determined": "the role differs between the combinations",
        "deployer_determined": "who deployed the volunteer is the same in every combination",
        "not_deployer_determined": "who deployed the volunteer differs between the combinations",
        "liability_determined": "the liability is the same in every combination",
        "not_liability_determined": "the liability differs between the combinations",
        "all_volunteer": "every combination leads to VRIJWILLIGER",
        "not_all_volunteer": "not every combination leads to VRIJWILLIGER",
        "one_of": " or ",
        "conclude_role": "role {0}",
        "conclude_deployer": "deployed by {0}",
        "conclude_set": "{q} becomes {v}",
        "conclude_exclude": "not evaluated: {q} {v}",
        "conclude_nothing": "no code (recorded as applied)",
    },
}


class Readable:
    """Conditions and conclusions of one release as a lawyer reads them, in one language, on one day.

    Facts are named by their question and answers by their labels; a predicate or group is written as its
    explanation; numbers compared with a parameter show its value in force (`texts`). The precise form, with the
    rule files' names, stays available as `condition_text`.
    """

    def __init__(self, rule_set: RuleSet, texts: RenderedTexts, language: str) -> None:
        self._rule_set, self._texts, self._language = rule_set, texts, language
        self._words = _READABLE["en" if language == "en" else "nl"]

    def condition(self, cond: Condition) -> str:
        """`cond` in one line of the language."""
        w = self._words
        match cond:
            case AllOf(items):
                return w["and"].join(self._wrapped(c) for c in items)
            case AnyOf(items):
                return w["or"].join(self._wrapped(c) for c in items)
            case Not(item):
                return w["not"].format(self._wrapped(item))
            case Named(name, _):
                return _clause(self._text(self._rule_set.predicates[name].explain))
            case ParamTest(param, value):
                return w["param"].format(param, _quoted(value))
            case RoleTest(roles):
                return w["role"].format(w["one_of"].join(roles))
            case DeployerTest(deployers):
                return w["deployer"].format(w["one_of"].join(deployers))
            case CodeTest(codes):
                return w["code"].format(w["one_of"].join(codes))
            case AggregateTest(name, value):
                return w[name if value else f"not_{name}"]
            case FactTest(fact, op, operand):
                return self._fact_test(fact, op, operand)
        return condition_text(cond)

    def conclusion(self, then: Conclusion) -> str:
        """What a rule concludes, in one line of the language."""
        w = self._words
        parts = []
        if then.role:
            parts.append(w["conclude_role"].format(then.role))
        if then.volunteer_deployer:
            parts.append(w["conclude_deployer"].format(then.volunteer_deployer))
        parts.extend(then.codes)
        for name, value in then.set_facts.items():
            parts.append(w["conclude_set"].format(q=self._question(name), v=self._answer(name, value)))
        for name, values in then.exclude.items():
            excluded = ", ".join(self._answer(name, v) for v in values)
            parts.append(w["conclude_exclude"].format(q=self._question(name), v=excluded))
        return "; ".join(parts) if parts else w["conclude_nothing"]

    def _fact_test(self, fact: str, op: FactOp, operand: object) -> str:
        w = self._words
        if op == FactOp.CONFLICTING:
            return w["conflicting"]
        q = self._question(fact)
        if op in (FactOp.KNOWN, FactOp.ABSENT):
            return w[op.value].format(q=q)
        if isinstance(operand, GroupRef):
            return w["group"].format(q=q, v=_clause(self._text(self._rule_set.groups[operand.name].explain)))
        if isinstance(operand, ParamRef):
            shown = self._texts.values["en" if self._language == "en" else "nl"].get(operand.name, operand.name)
            return w[op.value].format(q=q, v=self._with_unit(fact, shown))
        if isinstance(operand, float):
            number = f"{operand:g}"
            return w[op.value].format(
                q=q, v=self._with_unit(fact, number.replace(".", ",") if self._language == "nl" else number)
            )
        values = operand if isinstance(operand, tuple) else (operand,)
        return w[op.value].format(q=q, v=", ".join(self._answer(fact, v) for v in values))

    def _question(self, fact: str) -> str:
        return _quoted(self._text(self._rule_set.facts[fact].question))

    def _answer(self, fact: str, value: object) -> str:
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        for symbol in self._rule_set.facts[fact].symbols:
            if symbol.value == shown:
                return _quoted(self._text(symbol.label))
        return _quoted(shown)

    def _with_unit(self, fact: str, number: str) -> str:
        unit = self._rule_set.facts[fact].unit
        return f"{number} {self._text(unit)}" if unit is not None else number

    def _text(self, text: Text) -> str:
        return self._texts.get(text, self._language)

    def _wrapped(self, cond: Condition) -> str:
        text = self.condition(cond)
        return f"({text})" if isinstance(cond, AllOf | AnyOf) else text


def _quoted(text: str) -> str:
    return f'"{text}"'


def _clause(sentence: str) -> str:
    """A sentence of the rule files used inside a condition: without its full stop, and lower case first when the
    first word is an ordinary capitalised word (not an abbreviation such as "BIG")."""
    text = sentence.strip().rstrip(".")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text
