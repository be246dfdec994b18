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
)

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


def conclusion_text(then: Conclusion) -> str:
    """What a rule concludes, in one line."""
    parts = []
    if then.role:
        parts.append(f"role {then.role}")
    if then.volunteer_deployer:
        parts.append(f"deployer {then.volunteer_deployer}")
    parts.extend(then.codes)
    parts.extend(f"set {name} = {value}" for name, value in then.set_facts.items())
    parts.extend(f"exclude {name} = {', '.join(map(str, values))}" for name, values in then.exclude.items())
    return ", ".join(parts) if parts else "no code (recorded as applied)"


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
