"""The book's machinery, apart from the reference algorithms.

``symbolic`` (the formula contract; the only module importing SymPy), ``sources`` (reads the chapters'
display formulas and labels), ``plotting`` (house style of the figures), ``graphs`` (draws computation
graphs), ``experiments`` (functions that produce a chapter's figures and tables).
"""
