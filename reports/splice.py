"""splice.py — replace one generated section of RESULTS.md between its markers
(atomically); a section not there yet goes before `before` (a heading), or
after the title line."""
import os


def splice(results, begin, end, text, before=None, fix=None):
    """text must start with `begin` and end with `end`. fix: old -> new text
    replacements applied to the rest of the file first (renamed headings)."""
    old = open(results).read() if os.path.exists(results) else "# mtl-bench results\n"
    for a, b in (fix or {}).items():
        old = old.replace(a, b)
    if begin in old and end in old:
        a, b = old.index(begin), old.index(end) + len(end) + 1
        new = old[:a] + text + old[b:]
    elif before and before in old:
        a = old.index(before)
        new = old[:a] + text + "\n" + old[a:]
    else:
        nl = old.index("\n") + 1 if "\n" in old else len(old)
        new = old[:nl] + "\n" + text + "\n" + old[nl:]
    tmp = results + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, results)


def publish(text, section_path, results, begin, end, before=None):
    """Write a generated section to its own file (atomically) and splice it
    into RESULTS.md between its markers."""
    with open(section_path + ".tmp", "w") as f:
        f.write(text)
    os.replace(section_path + ".tmp", section_path)
    splice(results, begin, end, text, before=before)
