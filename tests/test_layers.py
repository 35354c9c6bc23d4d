"""No module imports a layer above its own (read from the source with `ast`, lazy imports included).

Top to bottom: adapters/app -> core -> jobs -> pipeline -> models/media -> storage/config/wording.
A lower layer that reached up would drag the chat adapters into a render worker, or the
bot's wording rules into storage; docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "zaobot"

LAYERS = ("base", "models/media", "pipeline", "jobs", "core", "adapters")  # bottom to top
ADAPTERS = {"app", "cli", "__main__", "handlers.telegram", "handlers.wechat", "handlers.webhook_body"}
# consent: the consent text, wording; challenge: the live check's actions (settings validate them);
# tasks: ending asyncio tasks (the runners and `serve`)
BASE = {"", "config", "wording", "errors", "consent", "redact", "keys", "challenge", "tasks"}


def layer_of(module: str) -> str:
    """The layer of a `zaobot...` module name."""
    name = module.removeprefix("zaobot").removeprefix(".")
    top = name.split(".")[0]
    if name in ADAPTERS or top == "web":  # web: the console and the playground, on the HTTP server
        return "adapters"
    if top == "handlers":
        return "core"
    if top == "jobs":
        return "jobs"
    if name in ("pipeline", "verify"):  # verify: the read side of the render pipeline
        return "pipeline"
    if top in ("models", "media", "scenes", "assets") or name == "threads":
        return "models/media"
    if top == "storage" or name in BASE:
        return "base"
    raise AssertionError(f"module {module!r} has no layer: add it to tests/test_layers.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def upward_imports(module: str, source: str) -> list[str]:
    """'importer -> imported' for every import in `source` that reaches a higher layer."""
    own = LAYERS.index(layer_of(module))
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from zaobot.handlers import core` imports zaobot.handlers.core, not just the package.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            if not name.startswith("zaobot"):
                continue
            try:
                target = layer_of(name)
            except AssertionError:  # `from zaobot.x import some_function`: judge by the module
                target = layer_of(name.rsplit(".", 1)[0])
            if LAYERS.index(target) > own:
                found.append(f"{module} ({layer_of(module)}) -> {name} ({target}), line {node.lineno}")
    return found


def test_no_module_imports_a_layer_above_its_own():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        violations += upward_imports(module_name(path), path.read_text(encoding="utf-8"))
    assert not violations, "\n".join(violations)


def test_the_check_catches_an_upward_import():
    """The control: storage reaching up into the Telegram adapter (even lazily) is caught."""
    source = "def f():\n    from zaobot.handlers.telegram import TelegramBot\n"
    assert upward_imports("zaobot.storage.users", source)
    assert upward_imports("zaobot.models.mesh", "import zaobot.pipeline\n")
    assert not upward_imports("zaobot.handlers.core", "from zaobot.storage import Store\n")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_storage_words_nothing_and_image_code_stores_nothing():
    """Within the bottom layers: storage counts, the bot words it (handlers/receipts.py); the image
    code derives its keys from zaobot/keys.py and never opens storage."""
    for path in sorted((PACKAGE / "storage").rglob("*.py")):
        assert "zaobot.wording" not in imports_of(path), path
    for folder in ("models", "media"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            assert not any(name.startswith("zaobot.storage") for name in imports_of(path)), path
