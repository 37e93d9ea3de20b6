"""The parser behind the formula contract (dlmath.book.sources) must see every display formula."""
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "book" / "_ext"))
from dlmath.book import sources as formulas  # noqa: E402

SAMPLE = r'''---
kernelspec:
  name: python3
---

# A chapter

$$ a = b $$ (eq-demo-one)

```{prf:theorem} Inside a directive
:label: thm-demo

$$
c = d
$$ (eq-demo-two)
```

$$
\begin{aligned} e &= f \\ g &= h \end{aligned}
$$

```{code-cell} python
define("eq-demo-one", 1)
verify("eq-demo-two", 2, 2)
check_code('eq-demo-one', f, g, cases)
```

````{solution-start} ex-demo
````

```{math}
:label: eq-demo-three
x = y
```

````{solution-end}
````

```python
$$ not a formula: inside a verbatim block $$
```

\begin{align}
p = q
\end{align}
'''


def test_parser_finds_labels_unlabelled_formulas_raw_environments_and_bindings(tmp_path):
    path = tmp_path / "ch01-demo.md"
    path.write_text(SAMPLE)
    ch = formulas.parse(path, "book/part1/ch01-demo")
    assert ch.slug == "demo" and ch.title == "A chapter"
    assert [e.label for e in ch.equations] == ["eq-demo-one", "eq-demo-two", None, "eq-demo-three"]
    assert ch.raw_envs == [len(SAMPLE.splitlines()) - 2]
    assert ch.bindings == [("define", "eq-demo-one"), ("verify", "eq-demo-two"), ("check_code", "eq-demo-one")]
    assert ch.status("eq-demo-two") == "verified"
    assert ch.status("eq-demo-one") is None  # bound twice: no single status
    assert ch.status("eq-demo-three") is None  # not bound


def test_toc_lists_existing_pages():
    docs = formulas.toc_docnames(REPO)
    assert docs[0] == "book/intro"
    assert all((REPO / (d + ".md")).exists() for d in docs)
