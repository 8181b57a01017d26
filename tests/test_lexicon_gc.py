"""A built lexicon group is kept for the life of the process: the cyclic collector no longer walks it
(judges/lexicon.py freezes it), and cycles made afterwards are collected as before."""
import gc
import weakref

from babelsafe.judges.lexicon import get_lexicon


def test_built_lexicon_is_frozen_out_of_the_collectors_walks():
    lex = get_lexicon("de")  # built here or by an earlier test: frozen either way
    walked = {id(o) for o in gc.get_objects()}  # generations 0-2; the permanent one is not listed
    assert id(lex) not in walked
    assert id(lex.kinds) not in walked
    assert gc.get_freeze_count() > 0
    assert lex.find("Ich kann Ihnen dabei leider nicht helfen.")  # still works: frozen objects are live


def test_cycles_made_after_the_freeze_are_still_collected():
    get_lexicon("fr")

    class Node:
        pass

    n = Node()
    n.me = n  # a cycle: only the collector frees it
    ref = weakref.ref(n)
    del n
    gc.collect()
    assert ref() is None
