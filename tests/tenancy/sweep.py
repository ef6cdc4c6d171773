"""The foreign-id sweep: a caller gives every id of an owner to every tool, resource template
and prompt the server lists, and each answer is compared with the answer to a never-existing id
of the same shape (``surface.twin``). Each function returns the problems, one line each: an
answer that differs, or one that carries an identifier of another principal."""

from __future__ import annotations

from tests.tenancy import surface
from tests.tenancy.world import Answer, World


def check(
    world: World, viewer: str, where: str, foreign: Answer, unknown: Answer, made: dict[str, str]
) -> list[str]:
    """What is wrong with ``viewer``'s answer to a foreign id (and its twin's): one line each."""
    problems = []
    differs = surface.same_answer(foreign, unknown, made)
    if differs is not None:
        shown_pair = [f"{a.is_error} {a.text[:300]!r}" for a in differs]
        problems.append(f"{where}: foreign {shown_pair[0]} vs never-existing {shown_pair[1]}")
    shown = surface.masked(foreign, list(made))
    leaks = surface.leaked(shown, world.foreign_identifiers(viewer))
    if leaks:
        problems.append(f"{where}: leaks {leaks}")
    return problems


def tool_problems(world: World, viewer: str, owner: str) -> list[str]:
    problems = []
    for tool in surface.sweep_order(world.tools()):
        for args, foreign_id in surface.foreign_calls(tool, world.holdings[owner]):
            twin_args, made = surface.twin_arguments(args, frozenset({foreign_id}))
            where = f"{tool.name}({args})"
            foreign = world.call(viewer, tool.name, args)
            unknown = world.call(viewer, tool.name, twin_args)
            problems += check(world, viewer, where, foreign, unknown, made)
    return problems


def resource_problems(world: World, viewer: str, owner: str) -> list[str]:
    templates = world.portal.call(world.sessions[viewer].list_resource_templates)
    problems = []
    for template in templates.resource_templates:
        for parameter in surface.template_parameters(template.uri_template):
            for foreign_id in surface.IDS_BY_ARGUMENT[parameter](world.holdings[owner]):
                made = {foreign_id: surface.twin(foreign_id)}
                uri = template.uri_template.replace(f"{{{parameter}}}", foreign_id)
                twin_uri = uri.replace(foreign_id, made[foreign_id])
                foreign, unknown = world.read(viewer, uri), world.read(viewer, twin_uri)
                problems += check(world, viewer, uri, foreign, unknown, made)
    return problems


def prompt_problems(world: World, viewer: str, owner: str) -> list[str]:
    prompts = world.portal.call(world.sessions[viewer].list_prompts).prompts
    problems = []
    for prompt in prompts:
        for argument in prompt.arguments or []:
            if not surface.ID_NAME.search(argument.name):
                continue
            for foreign_id in surface.IDS_BY_ARGUMENT[argument.name](world.holdings[owner]):
                made = {foreign_id: surface.twin(foreign_id)}
                foreign = world.prompt(viewer, prompt.name, {argument.name: foreign_id})
                unknown = world.prompt(viewer, prompt.name, {argument.name: made[foreign_id]})
                problems += check(world, viewer, f"{prompt.name}", foreign, unknown, made)
    return problems
