"""Check a built rule set against its own catalogues: every name a rule uses must exist and fit its stage.

The files' structure (keys, value types, rule ids) was checked by the models of schema.py as they were loaded;
what is checked here needs the whole release.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from rolwijzer.rules.conditions import fact_tests
from rolwijzer.rules.model import (
    AGGREGATES,
    STAGE_IDS,
    UNKNOWN,
    AggregateTest,
    AllOf,
    AnyOf,
    Citation,
    CodeKind,
    CodeTest,
    Condition,
    DeployerTest,
    FactDef,
    FactOp,
    FactTest,
    FactType,
    GroupRef,
    Named,
    Not,
    ParamRef,
    ParamTest,
    RoleTest,
    Rule,
    RuleSet,
)
from rolwijzer.rules.texts import PATTERN_PLACEHOLDER, placeholders_in, texts_of

_OPS_BY_TYPE = {
    FactType.SYMBOL: {FactOp.IS, FactOp.IS_NOT, FactOp.IN, FactOp.ABSENT},
    FactType.BOOLEAN: {FactOp.IS, FactOp.IS_NOT, FactOp.IN, FactOp.ABSENT},
    FactType.NUMBER: {FactOp.ABOVE, FactOp.AT_LEAST, FactOp.AT_MOST, FactOp.BELOW, FactOp.KNOWN},
    FactType.SET: {FactOp.CONTAINS, FactOp.CONTAINS_ANY, FactOp.ONLY},
}
_ROLE_STAGES = set(STAGE_IDS[STAGE_IDS.index("B-context") :]) - {"H"}
_NORMALISING = {"A1", "A"}
# A seed's file name (000_6e9bdd5e69beac01.txt) or our own specification: nothing a reader can look up.
_INTERNAL_REFERENCE = re.compile(r"[0-9]{3}_[0-9a-f]{16}|domain\.md")


# A problem is read in a log line, a terminal and a GetStatus answer: it is one line of at most MAX_PROBLEM_CHARS
# characters, whatever a file holds (a rule id or a YAML excerpt can be megabytes long), and a report lists at most
# MAX_REPORTED_PROBLEMS of them (a generated file can hold thousands of mistakes; the first ones show the kind).
MAX_PROBLEM_CHARS = 300
MAX_REPORTED_PROBLEMS = 50
_MAX_FILE_CHARS = 120
_MAX_ITEM_CHARS = 60


# What a problem keeps of each part until it is shown: enough for any real path, so a path can still be made
# relative to the rules root (GetStatus), while a megabyte rule id or YAML excerpt is not kept whole.
_KEPT_CHARS = 4_096


def clip(text: str, limit: int) -> str:
    """`text` on one line (runs of white space made one space), cut to at most `limit` characters with "…"."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: max(limit - 1, 0)] + "…"


def clip_left(text: str, limit: int) -> str:
    """As `clip`, but a long text loses its beginning: the end of a path names the file."""
    line = " ".join(text.split())
    return line if len(line) <= limit else "…" + line[len(line) - max(limit - 1, 0) :]


@dataclass(frozen=True)
class Problem:
    """One problem in a rule file: the file, the rule or entry it concerns, and what is wrong.

    `line` and `column` (1-based) point into the file when the problem has a place: the offending key or value,
    else the entry of the rule; a problem of a file or release as a whole has none. Shown (`str`), a problem reads
    `file:line:column: item: message` (editors and terminals jump to it), or `file: item: message` without a place.

    Each part is kept to a few thousand characters; shown, the whole line is at most MAX_PROBLEM_CHARS characters,
    a long file path losing its beginning rather than its end.
    """

    file: str
    item: str
    message: str
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "file", clip_left(self.file, _KEPT_CHARS))
        object.__setattr__(self, "item", clip(self.item, _KEPT_CHARS))
        object.__setattr__(self, "message", clip(self.message, _KEPT_CHARS))

    def __str__(self) -> str:
        file, item = clip_left(self.file, _MAX_FILE_CHARS), clip(self.item, _MAX_ITEM_CHARS)
        if self.line is not None:
            file += f":{self.line}:{self.column or 1}"
        return f"{file}: {item}: {clip(self.message, MAX_PROBLEM_CHARS - len(file) - len(item) - 4)}"


def report_lines(problems: Iterable[Problem]) -> list[str]:
    """The problems as lines for a log, a terminal or GetStatus: the first MAX_REPORTED_PROBLEMS, then how many more."""
    found = list(problems)
    lines = [str(p) for p in found[:MAX_REPORTED_PROBLEMS]]
    if len(found) > MAX_REPORTED_PROBLEMS:
        lines.append(f"… and {len(found) - MAX_REPORTED_PROBLEMS} more problem(s)")
    return lines


def validate_rule_set(rule_set: RuleSet) -> list[Problem]:
    """Return every problem of `rule_set`; an empty list means it is sound."""
    return list(_check(rule_set))


def internal_references(rs: RuleSet) -> list[Problem]:
    """Citations and source titles that name a seed file or domain.md instead of a source a reader can find.

    Only current releases are held to this: a published release is immutable, so the loader asks it of the
    releases no other release supersedes (see `load_rule_sets`).
    """
    found = [
        Problem("sources.yaml", source, f"source {source} names a seed file or domain.md; name the source by its title")
        for source, title in rs.sources.items()
        if _INTERNAL_REFERENCE.search(f"{source} {title}")
    ]
    cited: list[tuple[str, str, tuple[Citation, ...]]] = [(r.file, r.id, r.citations) for r in rs.rules]
    cited += [("predicates.yaml", p.name, p.citations) for p in rs.predicates.values()]
    cited += [("parameters.yaml", p.name, p.citations) for p in rs.parameters.values()]
    cited += [("facts.yaml", f.name, f.citations) for f in rs.facts.values()]
    cited += [("facts.yaml", g.name, g.citations) for g in rs.groups.values()]
    cited += [("codes.yaml", c.code, c.citations) for c in (*rs.roles.values(), *rs.deployers.values())]
    cited += [("codes.yaml", c.code, c.citations) for c in rs.codes.values()]
    found += [
        Problem(file, item, f"citation {c.reference!r} names a seed file or domain.md; cite a source and its section")
        for file, item, citations in cited
        for c in citations
        if _INTERNAL_REFERENCE.search(c.reference)
    ]
    return found


def _check(rs: RuleSet) -> Iterator[Problem]:
    yield from _check_facts(rs)
    yield from _check_groups_and_parameters(rs)
    yield from _check_texts(rs)
    for predicate in rs.predicates.values():
        yield from _check_condition(rs, "predicates.yaml", predicate.name, predicate.when, None)
    seen: set[str] = set()
    for rule in rs.rules:
        if rule.id in seen:
            yield Problem(rule.file, rule.id, "duplicate rule id")
        seen.add(rule.id)
        if rule.stage not in STAGE_IDS:
            yield Problem(rule.file, rule.id, f"unknown stage {rule.stage!r}; stages are {list(STAGE_IDS)}")
            continue
        yield from _check_condition(rs, rule.file, rule.id, rule.when, rule.stage)
        yield from _check_conclusion(rs, rule)
    for stage in ("B", "H-enumeration", "H"):
        if not rs.stage_rules(stage):
            yield Problem("-", stage, f"stage {stage} has no rules")
    yield from _check_decisions(rs)


def _check_facts(rs: RuleSet) -> Iterator[Problem]:
    for fact in rs.facts.values():
        values = fact.symbol_values
        if fact.type == FactType.SYMBOL and (("unknown" in values) != fact.unknown_allowed):
            yield Problem("facts.yaml", fact.name, "`unknown: true` exactly when `unknown` is among the symbols")
        if not fact.default_conditional and fact.default is None:
            yield Problem("facts.yaml", fact.name, "needs a default (or `default: conditional`)")
        elif fact.default is not None and not _value_fits(rs, fact.name, fact.default):
            yield Problem("facts.yaml", fact.name, f"default {fact.default!r} is not an allowed value")
        if fact.default_conditional and not any(fact.name in r.then.set_facts for r in rs.stage_rules("A1")):
            yield Problem("facts.yaml", fact.name, "`default: conditional` but no A1 rule sets it")
        if fact.decides_role and fact.enumeration is None:
            yield Problem("facts.yaml", fact.name, "a fact that decides the role (★) needs `enumerate`")
        if not fact.decides_role and fact.enumeration is not None:
            yield Problem("facts.yaml", fact.name, "`enumerate` is only for facts that decide the role (★)")
        if fact.enumeration is not None:
            for bucket in fact.enumeration.buckets:
                if not _value_fits(rs, fact.name, bucket.value) or bucket.value == "unknown":
                    yield Problem("facts.yaml", fact.name, f"bucket value {bucket.value!r} is not allowed")
            split = fact.enumeration.split_at
            if split is not None and not isinstance(_param_number(rs, split), float):
                yield Problem("facts.yaml", fact.name, f"split_at needs a numeric parameter, not {split.name!r}")
            boundary = fact.enumeration.boundary
            if split is not None and (
                boundary is None
                or boundary.name not in rs.parameters
                or set(rs.parameters[boundary.name].allowed) != {"strict", "inclusive"}
            ):
                yield Problem("facts.yaml", fact.name, "boundary needs a parameter allowing strict and inclusive")


def _check_groups_and_parameters(rs: RuleSet) -> Iterator[Problem]:
    for group in rs.groups.values():
        fact = rs.facts.get(group.fact)
        if fact is None:
            yield Problem("facts.yaml", group.name, f"group of unknown fact {group.fact!r}")
        elif not group.symbols or not group.symbols <= set(fact.symbol_values):
            yield Problem("facts.yaml", group.name, f"group symbols must be symbols of {group.fact}")
    for param in rs.parameters.values():
        for _, value in param.values:
            if param.allowed and value not in param.allowed:
                yield Problem("parameters.yaml", param.name, f"value {value!r} not in allowed {list(param.allowed)}")
            if isinstance(value, tuple):
                fact = rs.facts.get(param.fact or "")
                if fact is None or not set(value) <= set(fact.symbol_values):
                    yield Problem("parameters.yaml", param.name, "a list value needs `fact` and its symbols")


def _check_texts(rs: RuleSet) -> Iterator[Problem]:
    """Placeholders: defined once, worded for every allowed value, and every one a text uses is known."""
    parameters = set(rs.parameters)
    defined: set[str] = set()
    for param in rs.parameters.values():
        for placeholder, by_value in param.texts.items():
            if placeholder in parameters | defined | {PATTERN_PLACEHOLDER} or not placeholders_in(f"{{{placeholder}}}"):
                yield Problem("parameters.yaml", param.name, f"placeholder {{{placeholder}}} is taken or not a name")
            defined.add(placeholder)
            if not param.allowed or set(by_value) != set(param.allowed):
                yield Problem(
                    "parameters.yaml",
                    param.name,
                    f"texts of {{{placeholder}}} need one wording for each allowed value {list(param.allowed)}",
                )
            for value, text in by_value.items():
                for name in sorted((placeholders_in(text.nl) | placeholders_in(text.en)) - parameters):
                    yield Problem(
                        "parameters.yaml",
                        param.name,
                        f"the wording of {{{placeholder}}} for {value} may name parameter values only, not {{{name}}}",
                    )
    known = parameters | defined
    for file, item, text in texts_of(rs):
        nl, en = placeholders_in(text.nl), placeholders_in(text.en)
        allowed = known | ({PATTERN_PLACEHOLDER} if file == "codes.yaml" and _is_pattern(rs, item) else set())
        for name in sorted((nl | en) - allowed):
            yield Problem(file, item, f"unknown placeholder {{{name}}}; a text may use {sorted(known)}")
        if nl != en:
            yield Problem(file, item, "the Dutch and the English text use different placeholders")


def _is_pattern(rs: RuleSet, code: str) -> bool:
    found = rs.codes.get(code)
    return found is not None and found.pattern


def _param_number(rs: RuleSet, ref: ParamRef) -> float | None:
    param = rs.parameters.get(ref.name)
    if param is None or not param.values:
        return None
    values = {type(v) for _, v in param.values}
    return param.values[-1][1] if values == {float} else None  # type: ignore[return-value]


def _value_fits(rs: RuleSet, fact_name: str, value: object) -> bool:
    fact = rs.facts[fact_name]
    if fact.type == FactType.NUMBER:
        return isinstance(value, float) or (value == "unknown" and fact.unknown_allowed)
    if fact.type == FactType.SET:
        return isinstance(value, frozenset) and value <= set(fact.symbol_values)
    return value in fact.symbol_values


def _check_condition(rs: RuleSet, file: str, item: str, cond: Condition, stage: str | None) -> Iterator[Problem]:
    def problem(message: str) -> Problem:
        return Problem(file, item, message)

    match cond:
        case AllOf(items) | AnyOf(items):
            for sub in items:
                yield from _check_condition(rs, file, item, sub, stage)
        case Not(sub) | Named(_, sub):
            yield from _check_condition(rs, file, item, sub, stage)
        case ParamTest(param, value):
            found = rs.parameters.get(param)
            if found is None:
                yield problem(f"unknown parameter {param!r}")
            elif value not in found.allowed:
                yield problem(f"parameter {param} takes one of {list(found.allowed)}, not {value!r}")
        case RoleTest(codes) | DeployerTest(codes):
            catalogue = rs.roles if isinstance(cond, RoleTest) else rs.deployers
            for code in codes:
                if code not in catalogue:
                    yield problem(f"unknown role or deployer {code!r}")
            if stage is not None and stage not in _ROLE_STAGES:
                yield problem(f"stage {stage} runs before the role is known; it cannot test the role")
        case CodeTest(codes):
            for code in codes:
                if code not in rs.codes:
                    yield problem(f"unknown code {code!r}")
            if stage is not None and stage not in _ROLE_STAGES:
                yield problem(f"stage {stage} cannot test codes of later stages")
        case AggregateTest(name, _):
            if name not in AGGREGATES:
                yield problem(f"unknown aggregate {name!r}; known: {list(AGGREGATES)}")
            if stage not in (None, "H"):
                yield problem("aggregate tests belong to stage H")
        case FactTest():
            yield from _check_fact_test(rs, cond, stage, problem)
    if stage == "H" and _mentions_facts(cond):
        yield problem("stage H rules test aggregates only")


def _check_fact_test(
    rs: RuleSet, test: FactTest, stage: str | None, problem: Callable[[str], Problem]
) -> Iterator[Problem]:
    if test.fact == "*":
        if test.op != FactOp.CONFLICTING or stage != "A":
            yield problem("fact '*' is only for `conflicting: true` in stage A")
        return
    fact = rs.facts.get(test.fact)
    if fact is None:
        yield problem(f"unknown fact {test.fact!r}")
        return
    if test.op not in _OPS_BY_TYPE[fact.type]:
        yield problem(f"test '{test.op}' does not apply to {fact.type} fact {fact.name}")
        return
    if test.op == FactOp.ABSENT and (stage not in _NORMALISING or not fact.default_conditional):
        yield problem("`absent` is only for facts with a conditional default, in stages A1 and A")
    operand = test.operand
    if isinstance(operand, GroupRef):
        group = rs.groups.get(operand.name)
        if group is None or group.fact != fact.name:
            yield problem(f"{operand.name!r} is not a group of {fact.name}")
    elif isinstance(operand, ParamRef):
        param = rs.parameters.get(operand.name)
        if param is None:
            yield problem(f"unknown parameter {operand.name!r}")
        elif fact.type in (FactType.SYMBOL, FactType.SET) and param.fact != fact.name:
            yield problem(f"parameter {operand.name} does not hold symbols of {fact.name}")
    elif isinstance(operand, tuple):
        for value in operand:
            if value not in fact.symbol_values:
                yield problem(f"{value!r} is not a symbol of {fact.name}")
    elif test.op in (FactOp.IS, FactOp.IS_NOT, FactOp.CONTAINS) and operand not in fact.symbol_values:
        yield problem(f"{operand!r} is not a symbol of {fact.name}")


def _mentions_facts(cond: Condition) -> bool:
    match cond:
        case AllOf(items) | AnyOf(items):
            return any(_mentions_facts(c) for c in items)
        case Not(sub) | Named(_, sub):
            return _mentions_facts(sub)
        case FactTest() | RoleTest() | DeployerTest() | CodeTest():
            return True
    return False


def _check_conclusion(rs: RuleSet, rule: Rule) -> Iterator[Problem]:
    then, stage = rule.then, rule.stage

    def problem(message: str) -> Problem:
        return Problem(rule.file, rule.id, message)

    if (then.role is not None or then.volunteer_deployer is not None) and stage not in ("B", "H"):
        yield problem("only stages B and H conclude a role or deployer")
    if stage == "B":
        if then.role not in rs.roles or then.role == "ONBEPAALD":
            yield problem(f"a stage B rule concludes a role of the catalogue, not {then.role!r}")
        if (then.role == "VRIJWILLIGER") != (then.volunteer_deployer is not None):
            yield problem("VRIJWILLIGER, and only VRIJWILLIGER, comes with a volunteer_deployer")
        if then.volunteer_deployer is not None and then.volunteer_deployer not in rs.deployers:
            yield problem(f"unknown deployer {then.volunteer_deployer!r}")
    if stage == "H" and {then.role, then.volunteer_deployer} - {None, "ONBEPAALD"}:
        yield problem("stage H concludes only ONBEPAALD as role or deployer")
    if then.set_facts and stage not in _NORMALISING:
        yield problem("only stages A1 and A set facts")
    if then.exclude and stage != "H-enumeration":
        yield problem("only stage H-enumeration excludes values")
    if stage == "H-enumeration" and (then.codes or not then.exclude):
        yield problem("an H-enumeration rule only excludes values")
    if stage == "A1" and (then.codes or not then.set_facts):
        yield problem("an A1 rule only sets defaults")
    for code in then.codes:
        yield from _check_code(rs, rule, code)
    for name, value in then.set_facts.items():
        if name not in rs.facts or rs.facts[name].type == FactType.SET or not _value_fits(rs, name, value):
            yield problem(f"cannot set {name} to {value!r}")
    for name, values in then.exclude.items():
        fact = rs.facts.get(name)
        if fact is None or not fact.decides_role or not all(_value_fits(rs, name, v) for v in values):
            yield problem(f"cannot exclude {list(values)} from {name}: not a ★ fact or not its values")


def _check_code(rs: RuleSet, rule: Rule, code: str) -> Iterator[Problem]:
    if code == "CONFLICT_<FACT>":
        if not (isinstance(rule.when, FactTest) and rule.when.fact == "*"):
            yield Problem(rule.file, rule.id, "CONFLICT_<FACT> is only concluded by the conflicting-facts rule")
        return
    found = rs.codes.get(code)
    if found is None:
        yield Problem(rule.file, rule.id, f"unknown code {code!r}")
    elif rule.stage == "B" and found.kind != CodeKind.CONTEXT:
        yield Problem(rule.file, rule.id, f"stage B concludes context codes only, not {code}")


# --- The invariants the engine relies on to decide every situation --------------------------------------------------
#
# The engine answers INTERNAL (EvaluationError) when stage B decides no role, when stage H excludes every
# combination, or when the combinations disagree on the role and no stage H rule concludes one. A release that could
# do so is refused here, so it is never served. The checks are sound, not complete: they accept a release only when
# they can show the engine decides, and may refuse an unusual release that would in fact decide (then write its last
# stage B rule as a plain catch-all). They reason in three values: a condition is surely true, surely false, or open
# (None) for what they cannot know, such as a fact they were not told, a role, or a parameter whose dated values
# differ. Only rules without dates count: a dated rule does not apply on every day.


def _check_decisions(rs: RuleSet) -> Iterator[Problem]:
    yield from _check_conditional_defaults(rs)
    yield from _check_stage_b_decides(rs)
    yield from _check_stage_h_decides(rs)
    yield from _check_exclusions(rs)


def _undated(rules: Iterable[Rule]) -> list[Rule]:
    return [r for r in rules if r.valid_from is None and r.valid_until is None]


def _check_stage_b_decides(rs: RuleSet) -> Iterator[Problem]:
    """Some stage B rule decides every situation: a catch-all, or rules that decide every value of one ★ fact.

    Stage B runs on one combination of stage H, in which every ★ fact holds one plain value: not unknown (the engine
    refuses that), not an alias (the input expands it into one_of, which stage H enumerates). So when, for one ★
    symbol or boolean fact, every such value makes some rule surely true whatever the other facts are, some rule
    always matches. In the shipped releases that fact is relation_to_beneficiary: R7 decides `none`, R6d every
    related value.
    """
    written = rs.stage_rules("B")
    if not written:
        return  # reported as "stage B has no rules"
    rules = _undated(written)
    if any(_surely(r.when, rs, {}, {}) for r in rules):
        return
    for fact in rs.facts.values():
        if fact.decides_role and fact.type in (FactType.SYMBOL, FactType.BOOLEAN):
            values = _stage_b_values(rs, fact)
            if all(any(_surely(r.when, rs, {fact.name: v}, {}) for r in rules) for v in values):
                return
    last = written[-1]
    yield Problem(
        last.file,
        last.id,
        "stage B may leave the role undecided: no rule without dates matches for sure when all others fail (a "
        "catch-all, or rules that together decide every value of one ★ fact); is the file complete?",
    )


# A fact not given, in the three-valued checks: only an `absent` test on it is decided.
_ABSENT = "\x00absent"
# More cases than this and the check gives up (and refuses): an A1 default that depends on so many facts is unusual.
_MAX_CASES = 4096


def _check_conditional_defaults(rs: RuleSet) -> Iterator[Problem]:
    """A ★ fact with `default: conditional` that is not given gets a value from stage A1 in every combination.

    The engine needs a plain value for every ★ fact in every combination of stage H, or it answers INTERNAL.
    Stage A1 runs twice. On the input, other ★ facts hold a value or `unknown`, and other facts may be absent when
    their default is conditional too; a rule that sets the fact there may set `unknown`, which stage H then
    enumerates. Where no rule sets it on the input, stage A1 runs again on every combination, in which each ★ fact
    that was unknown holds one of its values: there a rule must surely set a plain value. The check tries every
    such case of the facts the setting rules test.
    """
    for fact in rs.facts.values():
        if not (fact.decides_role and fact.default_conditional):
            continue
        setters = [r for r in _undated(rs.stage_rules("A1")) if fact.name in r.then.set_facts]
        if not setters:
            continue  # reported as "`default: conditional` but no A1 rule sets it"
        plain = [r for r in setters if r.then.set_facts[fact.name] != UNKNOWN]
        tested = sorted({name for r in setters for name in (t.fact for t in fact_tests(r.when))} - {fact.name})
        tested = [name for name in tested if name in rs.facts]  # an unknown name is reported with its rule
        uncovered = _first_uncovered(rs, fact.name, tested, setters, plain)
        if uncovered is not None:
            example = ", ".join(f"{k}={'(not given)' if v == _ABSENT else v}" for k, v in uncovered.items())
            yield Problem(
                setters[-1].file,
                fact.name,
                f"★ fact {fact.name} has `default: conditional`, but no A1 rule without dates surely sets it when it "
                f"is not given{f' and {example}' if example else ''}; the engine could not decide such a situation",
            )


def _first_uncovered(
    rs: RuleSet, name: str, tested: list[str], setters: list[Rule], plain: list[Rule]
) -> dict[str, str] | None:
    """A case in which no setter gives `name` a value on the input nor a plain one in a combination; {} when there
    are too many cases to try, None when every case is covered."""
    on_input = [_input_values(rs.facts[t]) for t in tested]
    if math.prod(len(values) for values in on_input) > _MAX_CASES:
        return {}
    for values in itertools.product(*on_input):
        case = dict(zip(tested, values, strict=True))
        if any(_surely(r.when, rs, {name: _ABSENT, **case}, {}) for r in setters):
            continue
        in_combinations = [
            _stage_b_values(rs, rs.facts[t]) if rs.facts[t].decides_role and case[t] == UNKNOWN else [case[t]]
            for t in tested
        ]
        for combined in itertools.product(*in_combinations):
            facts = dict(zip(tested, combined, strict=True))
            if not any(_surely(r.when, rs, {name: _ABSENT, **facts}, {}) for r in plain):
                return facts
    return None


def _input_values(fact: FactDef) -> list[str]:
    """What a fact can hold on the input once stage A1 has run (see `_check_conditional_defaults`)."""
    values = [v for v in fact.symbol_values if v not in fact.aliases]
    values += [_ABSENT] if fact.default_conditional and not fact.decides_role else []
    return values


def _stage_b_values(rs: RuleSet, fact: FactDef) -> list[str]:
    """The values a ★ fact can hold in stage B: its plain symbols, and any value stage A1 or A sets it to."""
    values = list(fact.plain_symbols)
    for rule in (*rs.stage_rules("A1"), *rs.stage_rules("A")):
        value = rule.then.set_facts.get(fact.name)
        if value is not None and str(value) not in values and value != UNKNOWN:
            values.append(str(value))
    return values


# Stage H's aggregates in the two situations the engine needs a stage H rule for (see engine/aggregate.py): the
# combinations disagree on the role (a volunteer in some, another role in others), or all are volunteers with
# different deployers. liability_determined may be either.
_H_SITUATIONS = (
    ("role", "the combinations give different roles", {"role_determined": False, "all_volunteer": False}),
    ("volunteer_deployer", "all combinations give a volunteer, with different deployers", {"all_volunteer": True}),
)


def _check_stage_h_decides(rs: RuleSet) -> Iterator[Problem]:
    """When the combinations disagree on the role (or the volunteer's deployer), a stage H rule concludes it."""
    written = rs.stage_rules("H")
    if not written:
        return  # reported as "stage H has no rules"
    rules = _undated(written)
    for conclusion, situation, known in _H_SITUATIONS:
        aggregates = {
            "role_determined": True,
            "deployer_determined": conclusion != "volunteer_deployer",
            **known,
        }
        for liability in (True, False):
            facts = {**aggregates, "liability_determined": liability}
            if not any(getattr(r.then, conclusion) and _surely(r.when, rs, {}, facts) for r in rules):
                what = conclusion.replace("_", " ")
                yield Problem(
                    written[-1].file,
                    "H",
                    f"when {situation}, no stage H rule without dates surely concludes the {what}",
                )
                break


def _check_exclusions(rs: RuleSet) -> Iterator[Problem]:
    """Stage H-enumeration always leaves a combination: it excludes at most one value of a fact, never a whole domain.

    Every domain stage H enumerates has at least two values (one_of needs two, buckets two, a split gives two), so
    with one excluded value per fact, the combination that gives each open fact a value no rule excludes survives,
    unless stage A1, which runs again on each combination, sets an excluded value.
    """
    excluded: dict[str, set[str | float]] = {}
    file = "-"
    for rule in rs.stage_rules("H-enumeration"):
        file = rule.file
        for name, dropped in rule.then.exclude.items():
            excluded.setdefault(name, set()).update(dropped)
    for name, values in excluded.items():
        fact = rs.facts.get(name)
        if fact is None:
            continue  # reported with the rule
        domain = _enumerated(fact)
        if len(values) > 1 or (domain and set(domain) <= values):
            yield Problem(
                file,
                name,
                f"stage H-enumeration excludes {len(values)} values of {name}; at most one may be excluded, or a "
                "question could leave no combination",
            )
    for rule in rs.stage_rules("A1"):
        for name, value in rule.then.set_facts.items():
            if value in excluded.get(name, set()):
                yield Problem(rule.file, rule.id, f"sets {name} to {value!r}, which stage H-enumeration excludes")


def _enumerated(fact: FactDef) -> tuple[str | float, ...]:
    enumeration = fact.enumeration
    if enumeration is None or enumeration.split_at is not None:
        return ()
    if enumeration.buckets:
        return tuple(b.value for b in enumeration.buckets)
    return fact.plain_symbols


def _surely(cond: Condition, rs: RuleSet, facts: Mapping[str, str], aggregates: Mapping[str, bool]) -> bool:
    """Whether `cond` is true for sure when the facts in `facts` and the aggregates in `aggregates` hold."""
    return _truth(cond, rs, facts, aggregates) is True


def _truth(cond: Condition, rs: RuleSet, facts: Mapping[str, str], aggregates: Mapping[str, bool]) -> bool | None:
    """True, False, or None when it depends on what is not known (Kleene's three-valued logic)."""
    match cond:
        case AllOf(items):
            found = [_truth(c, rs, facts, aggregates) for c in items]
            return False if False in found else (True if all(found) else None)
        case AnyOf(items):
            found = [_truth(c, rs, facts, aggregates) for c in items]
            return True if True in found else (False if all(v is False for v in found) else None)
        case Not(item):
            inner = _truth(item, rs, facts, aggregates)
            return None if inner is None else not inner
        case Named(_, item):
            return _truth(item, rs, facts, aggregates)
        case ParamTest(param, value):
            found_param = rs.parameters.get(param)
            if found_param is None or not found_param.values:
                return None
            matches = {v == value for _, v in found_param.values}
            return matches.pop() if len(matches) == 1 else None
        case AggregateTest(name, value):
            known = aggregates.get(name)
            return None if known is None else known == value
        case FactTest(fact, op, operand) if fact in facts:
            return _fact_truth(rs, facts[fact], op, operand)
    return None


def _fact_truth(rs: RuleSet, value: str, op: FactOp, operand: object) -> bool | None:
    """A symbol or boolean test on a fact known to hold the plain `value`, as engine/compile.py encodes it."""
    if op == FactOp.ABSENT:
        return (value == _ABSENT) == bool(operand)
    if value == _ABSENT:
        return None
    if op in (FactOp.IS, FactOp.IS_NOT):
        return (str(operand) == value) == (op == FactOp.IS)
    if op != FactOp.IN:
        return None
    if isinstance(operand, tuple):
        return value in operand
    if isinstance(operand, GroupRef):
        group = rs.groups.get(operand.name)
        return None if group is None else value in group.symbols
    if isinstance(operand, ParamRef):
        param = rs.parameters.get(operand.name)
        if param is None or not param.values or not all(isinstance(v, tuple) for _, v in param.values):
            return None
        matches = {value in v for _, v in param.values if isinstance(v, tuple)}
        return matches.pop() if len(matches) == 1 else None
    return None
