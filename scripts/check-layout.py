#!/usr/bin/env python3
"""Checks the layout rules of src/ (docs/architecture.md): no import cycles between files, and no
pure module importing glue. Glue is what its folder's mod.rs builds for wasm32 only."""
import glob
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
modules = {}
for path in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, "::")
    modules[rel.removesuffix("::mod") if rel != "mod" else rel] = path

# A module is glue when the line declaring it, in its folder's mod.rs (or lib.rs), is under
# #[cfg(target_arch = "wasm32")].
glue = set()
for name, path in modules.items():
    if path.endswith(("mod.rs", "lib.rs")):
        continue
    folder = os.path.dirname(path)
    parent = os.path.join(folder, "lib.rs" if folder == root else "mod.rs")
    leaf = os.path.basename(path)[:-3]
    if re.search(r'#\[cfg\(target_arch = "wasm32"\)\]\s*(pub )?mod ' + leaf + ";", open(parent).read()):
        glue.add(name)


def deps(name):
    text = open(modules[name]).read().split("#[cfg(test)]")[0]
    found = set()
    refs = [m.group(1) for m in re.finditer(r"crate::((?:[a-z_]+::)*[a-z_]+)", text)]
    for m in re.finditer(r"use crate::([a-z_]+)::\{([^}]*)\}", text):
        refs += [m.group(1) + "::" + item.strip().split("::")[0] for item in m.group(2).split(",")]
    for m in re.finditer(r"use crate::\{([^}]*)\}", text):
        refs += [item.strip().split("::")[0] for item in m.group(1).split(",")]
    for ref in refs:
        parts = ref.split("::")
        for i in range(len(parts), 0, -1):
            candidate = "::".join(parts[:i])
            if candidate in modules and candidate != name and not modules[candidate].endswith(("mod.rs", "lib.rs")):
                found.add(candidate)
                break
    return found


graph = {name: deps(name) for name in modules if not modules[name].endswith(("mod.rs", "lib.rs"))}
problems = []
for name, targets in sorted(graph.items()):
    if name not in glue:
        problems += [f"pure module {name} imports glue {t}" for t in sorted(targets & glue)]


def visit(node, stack, done):
    for nxt in sorted(graph.get(node, ())):
        if nxt in stack:
            cycle = " -> ".join(stack[stack.index(nxt):] + [nxt])
            problems.append(f"import cycle: {cycle}")
        elif nxt not in done:
            done.add(nxt)
            visit(nxt, stack + [nxt], done)


done = set()
for start in sorted(graph):
    if start not in done:
        done.add(start)
        visit(start, [start], done)

for p in sorted(set(problems)):
    print(p)
print(f"layout: {len(graph)} files, {len(glue)} glue, {len(set(problems))} problems")
sys.exit(1 if problems else 0)
