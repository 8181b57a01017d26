/* Optional C versions of the refusal judge's per-answer text scans (babelsafe/judges/textscan.py loads
 * this module or falls back to the Python code; tests compare the two on every real answer and on fuzz).
 *
 * Each function reproduces one Python function exactly:
 *   degenerate(text)                      answer_text._degenerate_py
 *   script_profile(text)                  babelsafe.text.script_profile (its table: textscan.script_table)
 *   list_items(text, end)                 len(answer_text._LIST_ITEM.findall(text, 0, end))
 *   step_ends(text, end, letters)         the ends of refusal_features._STEP_END's matches
 *   scan_triggers(text, nodes, edges, bloom, entries, by_word)   the trigger scan of
 *                                         lexicon_index.Index._candidates
 *
 * Character classes are the ones Python's re and str methods use: \s and str.split() are
 * Py_UNICODE_ISSPACE, \d is Py_UNICODE_ISDECIMAL, \w is Py_UNICODE_ISALNUM or '_'. zlib: one deflate
 * stream, reset per call, with the parameters zlib.compress(data, 1) uses (so the same bytes come out;
 * textscan.py checks that this module and Python's zlib run the same zlib version).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <zlib.h>
#include <string.h>
#include <stdint.h>

#ifndef BABELSAFE_TEXTSCAN_SHA256
#define BABELSAFE_TEXTSCAN_SHA256 ""
#endif

/* ---------------------------------------------------------------------------------------------- */
/* zlib: compressed size of data at level 1, as len(zlib.compress(data, 1)) */

static z_stream zs;
static int zs_ready = 0;
static unsigned char *zbuf = NULL;
static size_t zbuf_len = 0;

static Py_ssize_t
deflate1_len(const unsigned char *data, Py_ssize_t n)
{
    if (!zs_ready) {
        memset(&zs, 0, sizeof(zs));
        /* zlib.compress(data, 1): wbits MAX_WBITS, DEF_MEM_LEVEL (8), default strategy */
        if (deflateInit2(&zs, 1, Z_DEFLATED, MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            PyErr_SetString(PyExc_MemoryError, "zlib: deflateInit2 failed");
            return -1;
        }
        zs_ready = 1;
    } else if (deflateReset(&zs) != Z_OK) {
        PyErr_SetString(PyExc_RuntimeError, "zlib: deflateReset failed");
        return -1;
    }
    size_t bound = deflateBound(&zs, (uLong)n) + 64;
    if (zbuf_len < bound) {
        unsigned char *nb = PyMem_RawRealloc(zbuf, bound);
        if (nb == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        zbuf = nb;
        zbuf_len = bound;
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = zbuf;
    zs.avail_out = (uInt)zbuf_len;
    int rc = deflate(&zs, Z_FINISH);
    if (rc != Z_STREAM_END) {
        PyErr_SetString(PyExc_RuntimeError, "zlib: deflate did not finish");
        return -1;
    }
    return (Py_ssize_t)zs.total_out;
}

static PyObject *
textscan_zlib_version(PyObject *self, PyObject *noargs)
{
    return PyUnicode_FromString(zlibVersion());
}

/* ---------------------------------------------------------------------------------------------- */
/* degenerate */

#define WORD_SLOTS 1024  /* > the 300 words 600 characters hold at most */

/* distinct code points of text[lo:hi] (hi - lo <= 300): a small open-addressing set */
static Py_ssize_t
distinct_chars(int kind, const void *data, Py_ssize_t lo, Py_ssize_t hi)
{
    Py_UCS4 slots[1024];
    unsigned char used[1024];
    memset(used, 0, sizeof(used));
    Py_ssize_t count = 0;
    for (Py_ssize_t i = lo; i < hi; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        size_t h = ((size_t)c * 2654435761u) & 1023;
        while (used[h] && slots[h] != c)
            h = (h + 1) & 1023;
        if (!used[h]) {
            used[h] = 1;
            slots[h] = c;
            count++;
        }
    }
    return count;
}

static int
has_non_space(int kind, const void *data, Py_ssize_t lo, Py_ssize_t hi)
{
    for (Py_ssize_t i = lo; i < hi; i++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            return 1;
    return 0;
}

/* text[lo:hi].count(text[plo:phi]) >= 5 (non-overlapping, as str.count) */
static int
count_at_least5(PyObject *text, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t plo, Py_ssize_t phi)
{
    PyObject *probe = PyUnicode_Substring(text, plo, phi);
    if (probe == NULL)
        return -1;
    Py_ssize_t c = PyUnicode_Count(text, probe, lo, hi);
    Py_DECREF(probe);
    if (c < 0)
        return -1;
    return c >= 5;
}

static PyObject *
textscan_degenerate(PyObject *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "degenerate() needs a str");
        return NULL;
    }
    if (PyUnicode_READY(arg) < 0)
        return NULL;
    PyObject *text = arg;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t chars = 0;
    if (n >= 40) {
        chars = distinct_chars(kind, data, n > 300 ? n - 300 : 0, n);
        if (chars <= 4)
            Py_RETURN_TRUE;
    }
    if (n >= 150) {
        Py_ssize_t tlo = n > 600 ? n - 600 : 0;
        if (has_non_space(kind, data, n - 30, n)) {
            int r = count_at_least5(text, tlo, n, n - 30, n);
            if (r < 0)
                return NULL;
            if (r)
                Py_RETURN_TRUE;
        }
    } else if (n >= 50) {
        if (has_non_space(kind, data, n - 10, n)) {
            int r = count_at_least5(text, 0, n, n - 10, n);
            if (r < 0)
                return NULL;
            if (r)
                Py_RETURN_TRUE;
        }
    }
    /* words = text[-600:].split(): runs of non-space characters, counted in a small hash table of spans */
    Py_ssize_t nw = 0, distinct = 0;
    Py_ssize_t wstart[WORD_SLOTS], wlen[WORD_SLOTS], wcount[WORD_SLOTS];
    Py_hash_t whash[WORD_SLOTS];
    Py_ssize_t first6[6];  /* slots of the first six words */
    memset(wcount, 0, sizeof(wcount));
    Py_ssize_t i = n > 600 ? n - 600 : 0;
    while (i < n) {
        while (i < n && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)))
            i++;
        if (i >= n)
            break;
        Py_ssize_t s0 = i;
        Py_uhash_t h = 1469598103934665603ULL;
        while (i < n) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (Py_UNICODE_ISSPACE(c))
                break;
            h = (h ^ c) * 1099511628211ULL;
            i++;
        }
        Py_ssize_t len = i - s0;
        size_t slot = (size_t)h & (WORD_SLOTS - 1);
        while (wcount[slot] && !(whash[slot] == (Py_hash_t)h && wlen[slot] == len &&
                                 memcmp((const char *)data + s0 * kind, (const char *)data + wstart[slot] * kind,
                                        (size_t)(len * kind)) == 0))
            slot = (slot + 1) & (WORD_SLOTS - 1);
        if (!wcount[slot]) {
            wstart[slot] = s0;
            wlen[slot] = len;
            whash[slot] = (Py_hash_t)h;
            distinct++;
        }
        wcount[slot]++;
        if (nw < 6)
            first6[nw] = (Py_ssize_t)slot;
        nw++;
    }
    Py_ssize_t floor8 = nw / 8;
    if (nw >= 8 && distinct <= (floor8 > 2 ? floor8 : 2))
        Py_RETURN_TRUE;
    if (nw >= 6 && distinct <= 4) {
        /* max(map(words.count, set(words[:6]))) * 2 > len(words) */
        Py_ssize_t best = 0;
        for (int k = 0; k < 6; k++)
            if (wcount[first6[k]] > best)
                best = wcount[first6[k]];
        if (best * 2 > nw)
            Py_RETURN_TRUE;
    }
    if (n >= 120 && ((double)distinct < 0.5 * (double)nw || chars < 40)) {
        PyObject *sub = PyUnicode_Substring(text, n > 900 ? n - 900 : 0, n);
        if (sub == NULL)
            return NULL;
        PyObject *enc = PyUnicode_AsUTF8String(sub);  /* lone surrogates raise, as .encode("utf-8") */
        Py_DECREF(sub);
        if (enc == NULL)
            return NULL;
        Py_ssize_t len = PyBytes_GET_SIZE(enc);
        Py_ssize_t clen = deflate1_len((const unsigned char *)PyBytes_AS_STRING(enc), len);
        Py_DECREF(enc);
        if (clen < 0)
            return NULL;
        if ((double)clen < 0.16 * (double)len)
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

/* ---------------------------------------------------------------------------------------------- */
/* script_profile */

static PyObject *script_keys[128];  /* code letter -> its 1-character str */
static PyObject *script_table = NULL;  /* bytes: code point (< 0x10000) -> script letter, 0: none */
static PyObject *script_table_builder = NULL;  /* called once, at the first non-ASCII text */

static PyObject *
textscan_set_script_table_builder(PyObject *self, PyObject *fn)
{
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "the builder must be callable");
        return NULL;
    }
    Py_INCREF(fn);
    Py_XSETREF(script_table_builder, fn);
    Py_CLEAR(script_table);
    Py_RETURN_NONE;
}

static PyObject *
textscan_script_profile(PyObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "script_profile() needs a str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t counts[128];
    unsigned char order[128];
    int norder = 0;
    memset(counts, 0, sizeof(counts));
    if (PyUnicode_IS_ASCII(text)) {  /* the ASCII letters are Latin */
        const unsigned char *s = (const unsigned char *)data;
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            k += ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z');
        counts['L'] = k;
        if (k)
            order[norder++] = 'L';
    } else {
        if (script_table == NULL) {
            if (script_table_builder == NULL) {
                PyErr_SetString(PyExc_RuntimeError, "no script table builder set");
                return NULL;
            }
            PyObject *t = PyObject_CallNoArgs(script_table_builder);
            if (t == NULL)
                return NULL;
            if (!PyBytes_Check(t) || PyBytes_GET_SIZE(t) != 0x10000) {
                Py_DECREF(t);
                PyErr_SetString(PyExc_ValueError, "the script table must be 65536 bytes");
                return NULL;
            }
            script_table = t;
        }
        const unsigned char *tab = (const unsigned char *)PyBytes_AS_STRING(script_table);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            unsigned char code = c < 0x10000 ? tab[c] : 0;
            if (code == 0 || code >= 128)
                continue;
            if (counts[code]++ == 0)
                order[norder++] = code;
        }
    }
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    for (int k = 0; k < norder; k++) {
        unsigned char code = order[k];
        double w = (code == 'H') ? 3.0 : (code == 'J' || code == 'K') ? 2.0 : 1.0;
        PyObject *v = PyFloat_FromDouble((double)counts[code] * w);
        if (v == NULL || PyDict_SetItem(out, script_keys[code], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(v);
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------- */
/* list items: len(re.compile(r"\n\s*(?:\d{1,2}[.)]|[-*\u2022]|#{1,4} |step \d)").findall(text, 0, end)) */

static Py_ssize_t
list_item_at(int kind, const void *data, Py_ssize_t i, Py_ssize_t end)
{
    /* text[i] == '\n': the end of a match starting there, or -1. \s* is greedy and no alternative
     * starts with a space, so only the longest run of spaces can be followed by a match. */
    Py_ssize_t j = i + 1;
    while (j < end && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j)))
        j++;
    if (j >= end)
        return -1;
    Py_UCS4 c = PyUnicode_READ(kind, data, j);
    if (Py_UNICODE_ISDECIMAL(c)) {
        /* \d{1,2}[.)] */
        Py_ssize_t k = j + 1;
        if (k < end) {
            Py_UCS4 d = PyUnicode_READ(kind, data, k);
            if (d == '.' || d == ')')
                return k + 1;
            if (Py_UNICODE_ISDECIMAL(d) && k + 1 < end) {
                Py_UCS4 e = PyUnicode_READ(kind, data, k + 1);
                if (e == '.' || e == ')')
                    return k + 2;
            }
        }
        return -1;
    }
    if (c == '-' || c == '*' || c == 0x2022)
        return j + 1;
    if (c == '#') {
        Py_ssize_t k = j;
        while (k < end && k - j < 4 && PyUnicode_READ(kind, data, k) == '#')
            k++;
        /* #{1,4} then ' ': a longer run backtracks onto '#', never a space */
        if (k < end && PyUnicode_READ(kind, data, k) == ' ')
            return k + 1;
        return -1;
    }
    if (c == 's' && j + 5 < end && PyUnicode_READ(kind, data, j + 1) == 't' &&
        PyUnicode_READ(kind, data, j + 2) == 'e' && PyUnicode_READ(kind, data, j + 3) == 'p' &&
        PyUnicode_READ(kind, data, j + 4) == ' ' && Py_UNICODE_ISDECIMAL(PyUnicode_READ(kind, data, j + 5)))
        return j + 6;
    return -1;
}

static PyObject *
textscan_list_items(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t end;
    if (!PyArg_ParseTuple(args, "Un", &text, &end))
        return NULL;
    if (PyUnicode_READY(text) < 0)
        return NULL;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (end > n)
        end = n;
    Py_ssize_t count = 0;
    Py_ssize_t i = 0;
    while (i < end) {
        if (PyUnicode_READ(kind, data, i) == '\n') {
            Py_ssize_t m = list_item_at(kind, data, i, end);
            if (m >= 0) {
                count++;
                i = m;  /* findall goes on after the match (never empty) */
                continue;
            }
        }
        i++;
    }
    return PyLong_FromSsize_t(count);
}

/* ---------------------------------------------------------------------------------------------- */
/* step ends: [m.end() for m in re.compile(r"\d(?:(?<=[L]\d)|(?<=[L]\s\d))").finditer(text, 0, end)]
 * with L = `letters` (refusal_features._STEP_END: where a "step N" can end) */

static int
in_letters(int lkind, const void *ldata, Py_ssize_t ln, Py_UCS4 c)
{
    for (Py_ssize_t k = 0; k < ln; k++)
        if (PyUnicode_READ(lkind, ldata, k) == c)
            return 1;
    return 0;
}

static PyObject *
textscan_step_ends(PyObject *self, PyObject *args)
{
    PyObject *text, *letters;
    Py_ssize_t end;
    if (!PyArg_ParseTuple(args, "UnU", &text, &end, &letters))
        return NULL;
    if (PyUnicode_READY(text) < 0 || PyUnicode_READY(letters) < 0)
        return NULL;
    int kind = PyUnicode_KIND(text), lkind = PyUnicode_KIND(letters);
    const void *data = PyUnicode_DATA(text), *ldata = PyUnicode_DATA(letters);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), ln = PyUnicode_GET_LENGTH(letters);
    if (end > n)
        end = n;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 1; i < end; i++) {
        Py_UCS4 d = PyUnicode_READ(kind, data, i);
        /* (speedlex) ASCII first: a comparison instead of a call into the Unicode database per character */
        if (d < 128 ? (d < '0' || d > '9') : !Py_UNICODE_ISDECIMAL(d))
            continue;
        Py_UCS4 b1 = PyUnicode_READ(kind, data, i - 1);
        if (in_letters(lkind, ldata, ln, b1) ||
            (i >= 2 && Py_UNICODE_ISSPACE(b1) && in_letters(lkind, ldata, ln, PyUnicode_READ(kind, data, i - 2)))) {
            PyObject *v = PyLong_FromSsize_t(i + 1);
            if (v == NULL || PyList_Append(out, v) < 0) {
                Py_XDECREF(v);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(v);
        }
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------- */
/* trigger scan (lexicon_index.Index._candidates): at every position where a trigger can start (in
 * spaced scripts after a character that is not \w, or at the start; else anywhere), every trigger the
 * text has there, in rank order, as (position, entries[rank]).
 *
 * The triggers are a trie (textscan.trigger_trie): `nodes` holds 3 int32 per node (rank of the trigger
 * ending there or -1, first edge, edge count), `edges` 2 int32 per edge (code point, child node), each
 * node's edges sorted by code point; node 0 is the root. `bloom`: bit (cp & 0xFFFF) set for each root
 * edge (a cheap rejection). */

static inline int
is_word(Py_UCS4 c)
{
    if (c < 128)  /* ASCII: a table lookup instead of four calls into the Unicode database */
        return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    return Py_UNICODE_ISALNUM(c);
}

/* the child of `node` by c, -1 when none (or when the tables are malformed: never a read out of bounds) */
static inline int32_t
trie_child(const int32_t *nodes, Py_ssize_t nnodes, const int32_t *edges, Py_ssize_t nedges, int32_t node,
           Py_UCS4 c)
{
    int32_t lo = nodes[3 * node + 1], cnt = nodes[3 * node + 2];
    if (lo < 0 || cnt < 0 || (Py_ssize_t)lo + cnt > nedges)
        return -1;
    int32_t hi = lo + cnt;
    while (lo < hi) {
        int32_t mid = (lo + hi) >> 1;
        Py_UCS4 ec = (Py_UCS4)edges[2 * mid];
        if (ec == c) {
            int32_t child = edges[2 * mid + 1];
            return (child > 0 && child < nnodes) ? child : -1;
        }
        if (ec < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

#define MAX_FOUND 256  /* triggers at one position: textscan.trigger_trie allows no longer ones */

/* (speedlex) METH_FASTCALL, the tables read straight from their bytes objects (no buffer requests) and
 * each hit built as a tuple directly: the argument parsing and Py_BuildValue were a third of the call on
 * a 230-character answer. Same arguments, results and errors as before. */
static PyObject *
textscan_scan_triggers(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "scan_triggers expected 6 arguments, got %zd", nargs);
        return NULL;
    }
    PyObject *text = args[0], *entries = args[4];
    if (!PyUnicode_Check(text) || !PyBytes_Check(args[1]) || !PyBytes_Check(args[2]) || !PyBytes_Check(args[3])
        || !PyTuple_Check(entries)) {
        PyErr_SetString(PyExc_TypeError, "scan_triggers(str, bytes, bytes, bytes, tuple, by_word)");
        return NULL;
    }
    int by_word = PyObject_IsTrue(args[5]);
    if (by_word < 0)
        return NULL;
    PyObject *out = NULL;
    if (PyUnicode_READY(text) < 0)
        return NULL;
    Py_ssize_t nodes_len = PyBytes_GET_SIZE(args[1]), edges_len = PyBytes_GET_SIZE(args[2]);
    if (PyBytes_GET_SIZE(args[3]) < 8192 || nodes_len < 12 || nodes_len % 12 || edges_len % 8) {
        PyErr_SetString(PyExc_ValueError, "scan_triggers: malformed trie tables");
        return NULL;
    }
    /* bytes objects' data is suitably aligned for int32 (CPython allocates them with malloc alignment) */
    const int32_t *nodes = (const int32_t *)PyBytes_AS_STRING(args[1]);
    const int32_t *edges = (const int32_t *)PyBytes_AS_STRING(args[2]);
    Py_ssize_t nnodes = nodes_len / 12, nedges = edges_len / 8;
    Py_ssize_t nentries = PyTuple_GET_SIZE(entries);
    const unsigned char *bits = (const unsigned char *)PyBytes_AS_STRING(args[3]);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    out = PyList_New(0);
    if (out == NULL)
        return NULL;
    int prev_word = 0;  /* the text's start counts as following a non-word character */
    for (Py_ssize_t p = 0; p < n; p++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, p);
        int eligible = !by_word || !prev_word;
        if (by_word)
            prev_word = is_word(c);
        if (!eligible)
            continue;
        unsigned int b = c & 0xFFFF;
        if (!(bits[b >> 3] & (1u << (b & 7))))
            continue;
        int32_t found[MAX_FOUND];
        int nfound = 0;
        int32_t node = 0;
        for (Py_ssize_t q = p; q < n; q++) {
            node = trie_child(nodes, nnodes, edges, nedges, node, PyUnicode_READ(kind, data, q));
            if (node < 0)
                break;
            int32_t term = nodes[3 * node];
            if (term >= 0 && term < nentries && nfound < MAX_FOUND) {
                /* insertion in rank order */
                int k = nfound++;
                while (k > 0 && found[k - 1] > term) {
                    found[k] = found[k - 1];
                    k--;
                }
                found[k] = term;
            }
        }
        for (int k = 0; k < nfound; k++) {
            PyObject *item = PyTuple_New(2), *pos = PyLong_FromSsize_t(p);
            if (item == NULL || pos == NULL) {
                Py_XDECREF(item);
                Py_XDECREF(pos);
                Py_CLEAR(out);
                return NULL;
            }
            PyObject *entry = PyTuple_GET_ITEM(entries, found[k]);
            Py_INCREF(entry);
            PyTuple_SET_ITEM(item, 0, pos);
            PyTuple_SET_ITEM(item, 1, entry);
            if (PyList_Append(out, item) < 0) {
                Py_DECREF(item);
                Py_CLEAR(out);
                return NULL;
            }
            Py_DECREF(item);
        }
    }
    return out;
}

/* ---------------------------------------------------------------------------------------------- */

static PyMethodDef textscan_methods[] = {
    {"degenerate", textscan_degenerate, METH_O, "answer_text.degenerate, in C."},
    {"script_profile", textscan_script_profile, METH_O, "babelsafe.text.script_profile(text)."},
    {"set_script_table_builder", textscan_set_script_table_builder, METH_O,
     "fn() -> the 65536-byte script table (textscan.script_table), called at the first non-ASCII text."},
    {"list_items", textscan_list_items, METH_VARARGS, "len(answer_text._LIST_ITEM.findall(text, 0, end))."},
    {"scan_triggers", (PyCFunction)(void (*)(void))textscan_scan_triggers, METH_FASTCALL,
     "(position, entry) of every trigger at each position one can start (textscan.trigger_trie)."},
    {"step_ends", textscan_step_ends, METH_VARARGS,
     "Ends of refusal_features._STEP_END's matches in text[:end], given its letters."},
    {"zlib_version", textscan_zlib_version, METH_NOARGS, "The zlib version this module runs."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef textscan_module = {
    PyModuleDef_HEAD_INIT, "_textscan",
    "C versions of the refusal judge's text scans (see babelsafe/judges/textscan.py).", -1, textscan_methods,
};

PyMODINIT_FUNC
PyInit__textscan(void)
{
    for (int c = 1; c < 128; c++) {
        script_keys[c] = PyUnicode_FromOrdinal(c);
        if (script_keys[c] == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&textscan_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", BABELSAFE_TEXTSCAN_SHA256) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
