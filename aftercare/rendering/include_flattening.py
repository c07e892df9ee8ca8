"""Partials compiled into the templates that include them, instead of loaded per email.

Jinja runs every ``{% include "partials/items.txt" %}`` at render time: it looks the
partial up, copies the whole context into a new one, and re-yields each piece of its
output through the including template. That costs a few microseconds per include, and an
email includes a dozen partials: more than the CSS inlining Aftercare already does once
per template instead of once per email. Here each include of a fixed partial is replaced
in the syntax tree, before compiling, by the partial's own tree in a scope of its own, so
its ``{% set %}`` stays inside it as it would in an include, and the output is the same.

Only what behaves exactly like an include is inlined: a partial named by a constant
string, included with context, not ``ignore missing``, that neither extends a layout nor
defines blocks nor uses ``self``, a macro's ``caller``, ``varargs`` and ``kwargs``, or
``loop`` outside a ``for`` of its own (``loop.last`` in its own loop is fine: that is the
partial's loop either way), and that is escaped the same way as the including
template (``.txt`` in ``.txt``, ``.html`` in ``.html``). Anything else, or a partial that
does not load or parse, stays a normal include, so its error surfaces as Jinja reports it.

Macros imported ``with context`` from a module that only defines macros are defined in
place the same way (Jinja builds such a module again for every email).

Compiled code maps its lines to the including template's file, so an error inside an
inlined partial would name the wrong file and line: ``EmailRenderer`` renders a failed
email once more with plain includes to report where it failed.
"""

from __future__ import annotations

from collections.abc import Callable

import jinja2
from jinja2 import nodes

# A partial including a partial including ...: deep enough for any real template, and a
# stop for one that includes itself.
MAX_DEPTH = 8

# Names an include does not see from where it stands (Jinja passes neither the loop nor a
# macro's special arguments): inlined, the partial would see them, or change the macro.
# ``loop`` is checked on its own: inside the partial's own ``for`` it is that loop's.
_OWN_NAMES = frozenset({"self", "varargs", "kwargs", "caller"})

Escaping = Callable[[str | None], bool]


def flatten_includes(
    environment: jinja2.Environment,
    tree: nodes.Template,
    name: str | None,
    escaping: Escaping,
    _including: tuple[str, ...] = (),
) -> nodes.Template:
    """``tree`` with every plain include of a fixed partial replaced by that partial."""
    if name is None or len(_including) >= MAX_DEPTH:
        return tree
    chain = (*_including, name)
    for include in list(tree.find_all(nodes.Include)):
        partial = _partial_for(environment, include, name, escaping, chain)
        if partial is not None:
            _replace(tree, include, [nodes.Scope(partial.body, lineno=include.lineno)])
    for imported in list(tree.find_all(nodes.FromImport)):
        macros = _macros_for(environment, imported, name, escaping, chain)
        if macros is not None:
            _replace(tree, imported, macros)
    return tree


def _macros_for(
    environment: jinja2.Environment,
    imported: nodes.FromImport,
    parent: str,
    escaping: Escaping,
    chain: tuple[str, ...],
) -> list[nodes.Macro] | None:
    """The macros ``{% from "m" import a, b with context %}`` imports, defined in place.

    Importing with context builds the module again for every email (Jinja cannot cache
    it); a macro defined where the import stood behaves the same when the module holds
    only macros and the imported ones call none of its others. Anything else stays an
    import.
    """
    target = imported.template
    if not (
        imported.with_context and isinstance(target, nodes.Const) and isinstance(target.value, str)
    ):
        return None
    name = environment.join_path(target.value, parent)
    if name in chain or escaping(name) != escaping(parent) or environment.loader is None:
        return None
    try:
        source, filename, _ = environment.loader.get_source(environment, name)
        module = environment.parse(source, name, filename)
    except Exception:  # noqa: BLE001 - left as an import, Jinja reports it at render time
        return None
    defined: dict[str, nodes.Macro] = {}
    for node in module.body:
        if isinstance(node, nodes.Macro):
            defined[node.name] = node
        elif not (
            isinstance(node, nodes.Output)
            and all(isinstance(n, nodes.TemplateData) and not n.data.strip() for n in node.nodes)
        ):
            return None  # the module does more than define macros
    macros = []
    for wanted in imported.names:
        original, alias = wanted if isinstance(wanted, tuple) else (wanted, wanted)
        macro = defined.get(original)
        if macro is None or original.startswith("_"):
            return None
        uses = {n.name for n in macro.find_all(nodes.Name)}
        if uses & (defined.keys() | {"self"}):
            return None  # calls the module's own macros, or itself
        flatten_includes(environment, macro, name, escaping, chain)  # its own includes
        copy = nodes.Macro(alias, macro.args, macro.defaults, macro.body, lineno=imported.lineno)
        macros.append(copy)
    return macros


def _partial_for(
    environment: jinja2.Environment,
    include: nodes.Include,
    parent: str,
    escaping: Escaping,
    chain: tuple[str, ...],
) -> nodes.Template | None:
    """The tree of the partial ``include`` loads, if inlining it changes nothing."""
    target = include.template
    if not (
        include.with_context
        and not include.ignore_missing
        and isinstance(target, nodes.Const)
        and isinstance(target.value, str)
    ):
        return None
    name = environment.join_path(target.value, parent)
    if name in chain or escaping(name) != escaping(parent) or environment.loader is None:
        return None
    try:
        source, filename, _ = environment.loader.get_source(environment, name)
        tree = environment.parse(source, name, filename)
    except Exception:  # noqa: BLE001 - left as an include, Jinja reports it at render time
        return None
    if _needs_its_own_template(tree):
        return None
    return flatten_includes(environment, tree, name, escaping, chain)


def _needs_its_own_template(tree: nodes.Template) -> bool:
    """Whether the partial relies on being a template of its own."""
    if any(True for _ in tree.find_all((nodes.Extends, nodes.Block))):
        return True
    if any(n.name in _OWN_NAMES for n in tree.find_all(nodes.Name)):
        return True
    return not _loops_are_its_own(tree, inside_a_loop=False)


def _loops_are_its_own(node: nodes.Node, inside_a_loop: bool) -> bool:
    """Whether every ``loop`` in ``node`` is the loop variable of a ``for`` around it in
    the partial. A ``for``'s body sees its own loop; its ``iter``, ``if`` filter and
    ``else`` see the enclosing one; a macro's or call block's body sees none of the
    partial's loops (it runs where it is called)."""
    if isinstance(node, nodes.Name):
        return node.name != "loop" or inside_a_loop
    if isinstance(node, nodes.For):
        outside = [node.target, node.iter, *node.else_, *([node.test] if node.test else [])]
        return all(_loops_are_its_own(n, inside_a_loop) for n in outside) and all(
            _loops_are_its_own(n, True) for n in node.body
        )
    if isinstance(node, nodes.Macro | nodes.CallBlock):
        inside_a_loop = False
    return all(_loops_are_its_own(n, inside_a_loop) for n in node.iter_child_nodes())


def _replace(tree: nodes.Node, old: nodes.Node, new: list[nodes.Node]) -> None:
    """Put the statements ``new`` where the statement ``old`` stands in ``tree``."""
    for node in [tree, *tree.find_all(nodes.Node)]:
        for _field, value in node.iter_fields():
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if item is old:
                        value[index : index + 1] = new
                        return
