"""``convert.tidy``: the authors' legacy forms rewritten, and the value of every rewrite the same."""

from __future__ import annotations

import itertools
import textwrap

import pytest

from distill.convert.tidy import tidy


@pytest.mark.parametrize(("before", "after"), [
    ('s = u"x"\n', 's = "x"\n'),
    ("class A():\n    pass\n", "class A:\n    pass\n"),
    ('p = "\\s+\\d"\n', 'p = r"\\s+\\d"\n'),
    ('m = "{} of {}".format(a, b)\n', 'm = f"{a} of {b}"\n'),
    ("m = '{0:.2f} {name!r}'.format(x.mean(), name=k)\n", "m = f'{x.mean():.2f} {k!r}'\n"),
    ("m = '%s at %.3f%%' % (a, b)\n", "m = f'{a} at {b:.3f}%'\n"),
    ("m = 'WIKI/%s' % ticker\n", "m = f'WIKI/{ticker}'\n"),
    ("def f(x=[1], *, y={}):\n    return len(x) + len(y)\n",
     "def f(x=None, *, y=None):\n    if x is None:\n        x = [1]\n    if y is None:\n        y = {}\n"
     "    return len(x) + len(y)\n"),
    ("def f():\n    fig, ax = g()\n    return ax\n", "def f():\n    _fig, ax = g()\n    return ax\n"),
    ("x = ['$%dk' % (round(v / 1000)) for v in t]\n", "x = [f'${round(v / 1000)}k' for v in t]\n"),
    ("def f(axes=[0, 1]):\n    plt.axis(axes)\n    return np.linspace(axes[0], axes[1], 3)\n",
     "def f(axes=None):\n    if axes is None:\n        axes = [0, 1]\n    plt.axis(axes)\n"
     "    return np.linspace(axes[0], axes[1], 3)\n"),
    ("def fetch(p):\n    t = tarfile.open(p)\n    t.extractall(path=p)\n    t.close()\n    return 1\n",
     "def fetch(p):\n    with tarfile.open(p) as t:\n        t.extractall(path=p)\n    return 1\n"),
    ("f = open('a')\ng = open('b')\ntext = f.read() + g.read()\ng.close()\nf.close()\n",
     "with open('a') as f:\n    with open('b') as g:\n        text = f.read() + g.read()\n"),
    ("f = open('a.png', 'rb')\nimage = f.read()\nsize = len(image)\n",
     "with open('a.png', 'rb') as f:\n    image = f.read()\nsize = len(image)\n"),
    ("f = open('c.json')\nconf = json.load(f)\n", "with open('c.json') as f:\n    conf = json.load(f)\n"),
])
def test_each_rewrite(before: str, after: str) -> None:
    assert tidy(before) == after


@pytest.mark.parametrize("code", [
    "m = '$%d' % total\n",  # %d truncates a float; {:d} refuses one
    "m = '%5s|' % name\n",  # a width: left as it is
    "m = '%(a)s' % table\n",  # a mapping
    "m = '{0}{0}'.format(next(it))\n",  # the call would run twice
    "m = '{}'.format(*args)\n",
    "m = '{}'.format('quoted')\n",  # a string argument: quotes in an f-string are version-dependent
    "m = '{x.y}'.format(x=v)\n",  # a field with an attribute
    "m = 'a' 'b {}'.format(v)\n",  # two literals side by side
    "p = '\\n\\\\d'\n",  # a valid escape: a raw string would change the value
    "m = b'%s' % v\n",
    "a, b = pair\n",  # module level: the linters only ask it of functions
    "def f():\n    a, b = g()\n    return locals()\n",
    "def f(x=[1]): return x\n",  # the body shares the line
    "f = open('a')\nreader = csv.reader(f)\nrows = list(reader)\n",  # never closed, and read lazily after
    "def count(x, seen=[]):\n    seen.append(x)\n    return len(seen)\n",  # a cache: the shared default is meant
    "def f(x, memo={}):\n    memo[x] = 1\n    return memo\n",
    "def f(x, seen=[]):\n    add(seen, x)\n",  # the notebook's own function may change it
    "def f(seen=[]):\n    np.random.shuffle(seen)\n",
    "def f(cols=[A]):\n    return len(cols)\n",  # the default reads a name
    'def f(x=[1]):\n    """Only a docstring."""\n',
    "def f(p):\n    _b = 5\n    a, b = p\n    return a + _b\n",  # `_b` is taken
    "def f(df, bounds):\n    low, high = bounds\n    return df.query('a > @low and a < @high')\n",
    "f = open('a')\nf.close()\nprint(f.closed)\n",  # used after it is closed
    "f = open('a'); text = f.read()\nf.close()\n",  # shares its line
])
def test_left_as_it_is(code: str) -> None:
    assert tidy(code) == code


def test_a_rewrite_that_does_not_parse_is_not_applied() -> None:
    code = "x = u'a' if y else (\n"
    assert tidy(code) == code


VALUES = {"a": 3, "b": 2.718281828, "k": "key", "items": [1, 2, 3], "n": -0.5}


TEMPLATES = [
    "'{} {}'.format(A, B)",
    "'%s|%s' % (A, B)",
    "'{:.3f}/{!r}'.format(B, A)",
    "'%.2f%%-%r' % (B, A)",
    '"[{}]".format(A)',
    '"""{0} and {1}""".format(B, A)',
    "'{x}: %s'.format(x=A)",
]


@pytest.mark.parametrize(("template", "arguments"), list(itertools.product(
    TEMPLATES, [("a", "b"), ("k", "n"), ("items[0]", "len(items)"), ("b", "a")],
)))
def test_the_rewritten_expression_has_the_same_value(template: str, arguments: tuple[str, str]) -> None:
    expression = template.replace("A", arguments[0]).replace("B", arguments[1])
    code = f"value = {expression}\n"
    rewritten = tidy(code)
    assert rewritten != code and "format" not in rewritten and " % " not in rewritten, rewritten
    before: dict[str, object] = dict(VALUES)
    after: dict[str, object] = dict(VALUES)
    exec(code, before)
    exec(rewritten, after)
    assert before["value"] == after["value"], textwrap.dedent(f"{code}{rewritten}")
