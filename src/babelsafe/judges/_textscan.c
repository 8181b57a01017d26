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
#include <math.h>

#ifndef BABELSAFE_TEXTSCAN_SHA256
#define BABELSAFE_TEXTSCAN_SHA256 ""
#endif

/* ---------------------------------------------------------------------------------------------- */
/* arguments: a str's storage, and the checks every function makes (one place, one set of messages) */

typedef struct {  /* read a character as PyUnicode_READ(s.kind, s.data, i), 0 <= i < s.n */
    int kind;
    const void *data;
    Py_ssize_t n;
} ustr;

/* s <- the storage of `text` (a str already checked, e.g. by PyArg_ParseTuple's "U"); 0, or -1 with an
 * exception */
static inline int
ustr_view(PyObject *text, ustr *s)
{
    if (PyUnicode_READY(text) < 0)
        return -1;
    s->kind = PyUnicode_KIND(text);
    s->data = PyUnicode_DATA(text);
    s->n = PyUnicode_GET_LENGTH(text);
    return 0;
}

/* the one argument of a METH_O function that needs a str: TypeError "<name>() needs a str" otherwise */
static inline int
ustr_arg(PyObject *arg, const char *name, ustr *s)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "%s() needs a str", name);
        return -1;
    }
    return ustr_view(arg, s);
}

/* text[:end] of the functions taking (text, end, ...): end clamped to the text (a negative end scans
 * nothing, as their loops start at 0 or 1) */
static inline Py_ssize_t
clamp_end(Py_ssize_t end, const ustr *s)
{
    return end > s->n ? s->n : end;
}

/* list.append(v) for a position; 0, or -1 with an exception */
static int
append_pos(PyObject *list, Py_ssize_t v)
{
    PyObject *o = PyLong_FromSsize_t(v);
    if (o == NULL || PyList_Append(list, o) < 0) {
        Py_XDECREF(o);
        return -1;
    }
    Py_DECREF(o);
    return 0;
}

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

/* ---- speedtext: a lower bound on deflate1_len, so that most degenerate() calls skip zlib ---- */

/* A lower bound, in bits, on the size of zlib.compress(data, 1) for n <= 4096 bytes (0.0 above; the
 * caller then compresses). Why it holds (and a test compares it with zlib on real answers and fuzz):
 * - zlib's level-1 deflate (deflate_fast) writes such input as ONE block: it flushes early only when
 *   16,383 symbols are buffered (lit_bufsize at memLevel 8) or the 32 KiB window slides; the stream has
 *   2 header bytes and a 4-byte Adler-32, the block 3 header bits;
 * - call a position "novel" when the 3 bytes starting there did not start at any earlier position. A
 *   match (3+ bytes, copied from earlier) starting at s with length L makes s .. s+L-3 non-novel, so a
 *   position whose 3-grams at i-2, i-1 and i (those that exist) are all novel is a literal ("forced");
 * - the forced literals, counted c_b per byte value (F in all), cost at least sum c_b log2(F / c_b) bits
 *   in any prefix code (Gibbs' inequality; the fixed code's 8-9 bit literals too);
 * - every other novel position is a literal (>= 1 bit: the literal/length code has at least 2 symbols,
 *   end-of-block and a literal) or one of the last 2 positions of a match (>= 2 bits: a length code and a
 *   distance code, which zlib never leaves at 0 bits).
 * A stored block is longer than all of that. */
#define FLOOR_MAX 4096
#define FLOOR_SLOTS 8192  /* open addressing, load <= 0.5 */

static uint32_t floor_key[FLOOR_SLOTS], floor_stamp[FLOOR_SLOTS];
static uint32_t floor_now = 0;  /* the current call's stamp: slots of older calls count as empty */

static double xlog2x[FLOOR_MAX + 1];  /* x * log2(x), filled at the first call */

/* The bound, computed left to right (a position's status depends on the bytes up to 2 after it, so the
 * bound of a prefix's positions is a bound too): it returns as soon as it reaches `enough` bits. */
static double
deflate1_floor_bits(const unsigned char *d, Py_ssize_t n, double enough)
{
    if (n < 3 || n > FLOOR_MAX)
        return 0.0;
    if (xlog2x[2] == 0.0)
        for (int x = 2; x <= FLOOR_MAX; x++)
            xlog2x[x] = (double)x * log2((double)x);
    if (++floor_now == 0) {  /* wrapped: clear once every 2**32 calls */
        memset(floor_stamp, 0, sizeof(floor_stamp));
        floor_now = 1;
    }
    /* the margin covers the rounding of the table and the sums (the bound is far from tight anyway) */
    enough = enough * (1.0 + 1e-6) + 2.0 - 51.0;  /* 51: the header bits; past the margin below */
    Py_ssize_t counts[256];
    memset(counts, 0, sizeof(counts));
    Py_ssize_t forced = 0, other = 0, last = n - 3;  /* 3-grams start at 0 .. last */
    Py_ssize_t seen_at = -3;  /* the last position whose 3-gram is not novel */
    double sum_clogc = 0.0;  /* sum of c_b log2 c_b over the forced literals */
    double bits = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int novel = 0;
        if (i <= last) {
            uint32_t k = ((uint32_t)d[i] << 16) | ((uint32_t)d[i + 1] << 8) | d[i + 2];
            uint32_t h = (k * 2654435761u) >> 19;  /* 13 bits */
            while (floor_stamp[h] == floor_now && floor_key[h] != k)
                h = (h + 1) & (FLOOR_SLOTS - 1);
            if (floor_stamp[h] == floor_now) {
                seen_at = i;
            } else {
                floor_stamp[h] = floor_now;
                floor_key[h] = k;
                novel = 1;
            }
        }
        if (seen_at < i - 2) {  /* the 3-grams at i-2, i-1, i (those that exist) are all novel */
            Py_ssize_t c = counts[d[i]]++;
            sum_clogc += xlog2x[c + 1] - xlog2x[c];
            forced++;
        } else if (novel) {
            other++;
        } else {
            continue;
        }
        bits = (double)other + xlog2x[forced] - sum_clogc;
        if (bits >= enough)
            break;
    }
    return (51.0 + bits) * (1.0 - 1e-9) - 1.0;
}

static PyObject *
textscan_deflate1_floor(PyObject *self, PyObject *arg)
{
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    double bits = deflate1_floor_bits((const unsigned char *)b.buf, b.len, HUGE_VAL);
    PyBuffer_Release(&b);
    return PyFloat_FromDouble(bits);
}

/* k-grams of one text found in another (answer_text.near_echo): the k-grams of `p` in a hash table of
 * their positions, probed with each k-gram of `a` (what `a[i:i + k] in p` tests, a substring test) */

static int32_t *kg_slots = NULL;  /* position in p + 1; 0: empty */
static size_t kg_cap = 0;

/* fills kg_slots with p's k-grams; returns the mask (table size - 1), or (size_t)-1 on no memory */
static size_t
kgram_table(int pkind, const void *pdata, Py_ssize_t m, int k)
{
    size_t need = 16;
    while (need < (size_t)(2 * (m > 0 ? m : 1)))
        need <<= 1;
    if (kg_cap < need) {
        int32_t *nb = PyMem_Realloc(kg_slots, need * sizeof(int32_t));
        if (nb == NULL) {
            PyErr_NoMemory();
            return (size_t)-1;
        }
        kg_slots = nb;
        kg_cap = need;
    }
    memset(kg_slots, 0, need * sizeof(int32_t));
    size_t mask = need - 1;
    for (Py_ssize_t j = 0; j < m; j++) {  /* m: the number of k-grams of p */
        uint64_t h = 1469598103934665603ULL;
        for (int t = 0; t < k; t++)
            h = (h ^ PyUnicode_READ(pkind, pdata, j + t)) * 1099511628211ULL;
        size_t slot = (size_t)(h ^ (h >> 29)) & mask;
        for (;;) {
            int32_t at = kg_slots[slot];
            if (at == 0) {
                kg_slots[slot] = (int32_t)(j + 1);
                break;
            }
            int same = 1;
            for (int t = 0; t < k && same; t++)
                same = PyUnicode_READ(pkind, pdata, at - 1 + t) == PyUnicode_READ(pkind, pdata, j + t);
            if (same)
                break;  /* already there */
            slot = (slot + 1) & mask;
        }
    }
    return mask;
}

static int
kgram_in(size_t mask, int pkind, const void *pdata, int akind, const void *adata, Py_ssize_t i, int k)
{
    uint64_t h = 1469598103934665603ULL;
    for (int t = 0; t < k; t++)
        h = (h ^ PyUnicode_READ(akind, adata, i + t)) * 1099511628211ULL;
    size_t slot = (size_t)(h ^ (h >> 29)) & mask;
    for (;;) {
        int32_t at = kg_slots[slot];
        if (at == 0)
            return 0;
        int same = 1;
        for (int t = 0; t < k && same; t++)
            same = PyUnicode_READ(pkind, pdata, at - 1 + t) == PyUnicode_READ(akind, adata, i + t);
        if (same)
            return 1;
        slot = (slot + 1) & mask;
    }
}

/* one kgram_cover / kgram_hits call: its arguments, and the table of p's k-grams */
typedef struct {
    ustr a, p;
    int k;
    Py_ssize_t step;
    size_t mask;
} kgram_job;

/* (a, p, k[, step]) parsed and p's table built: 1, or 0 when there is no k-gram in p or a (nothing to
 * count), or -1 with an exception */
static int
kgram_args(PyObject *args, int with_step, kgram_job *j)
{
    PyObject *a, *p;
    j->step = 1;
    if (with_step ? !PyArg_ParseTuple(args, "UUin", &a, &p, &j->k, &j->step)
                  : !PyArg_ParseTuple(args, "UUi", &a, &p, &j->k))
        return -1;
    if (j->k < 1 || j->k > 64 || j->step < 1) {
        PyErr_SetString(PyExc_ValueError, "k must be 1..64 and step >= 1");
        return -1;
    }
    if (ustr_view(a, &j->a) < 0 || ustr_view(p, &j->p) < 0)
        return -1;
    Py_ssize_t m = j->p.n - j->k + 1;
    if (m <= 0 || j->a.n < j->k || m >= INT32_MAX)
        return 0;
    j->mask = kgram_table(j->p.kind, j->p.data, m, j->k);
    return j->mask == (size_t)-1 ? -1 : 1;
}

/* kgram_cover (hits_only 0: how many characters of a lie in a k-gram found in p, step 1) and kgram_hits
 * (hits_only 1: how many of the k-grams at every step-th position are found in p) */
static PyObject *
kgram_count(PyObject *args, int hits_only)
{
    kgram_job j;
    int r = kgram_args(args, hits_only, &j);
    if (r <= 0)
        return r < 0 ? NULL : PyLong_FromLong(0);
    Py_ssize_t count = 0, until = 0;
    for (Py_ssize_t i = 0; i + j.k <= j.a.n; i += j.step) {
        if (!kgram_in(j.mask, j.p.kind, j.p.data, j.a.kind, j.a.data, i, j.k))
            continue;
        if (hits_only) {
            count++;
        } else {
            count += i + j.k - (i > until ? i : until);
            until = i + j.k;
        }
    }
    return PyLong_FromSsize_t(count);
}

static PyObject *
textscan_kgram_cover(PyObject *self, PyObject *args)
{
    return kgram_count(args, 0);
}

static PyObject *
textscan_kgram_hits(PyObject *self, PyObject *args)
{
    return kgram_count(args, 1);
}

/* _HERE_IS.search(text) is not None: [hH][eE][rR][eE](?: [iI][sS]|'[sS]) */
static PyObject *
textscan_here_is(PyObject *self, PyObject *text)
{
    ustr s;
    if (ustr_arg(text, "here_is", &s) < 0)
        return NULL;
#define LOW(i) (PyUnicode_READ(s.kind, s.data, (i)) | 0x20)  /* ASCII letters to lower case (others never match) */
#define IS(i, c) (PyUnicode_READ(s.kind, s.data, (i)) < 128 && LOW(i) == (c))
    for (Py_ssize_t i = 0; i + 6 <= s.n; i++) {
        if (!IS(i, 'h') || !IS(i + 1, 'e') || !IS(i + 2, 'r') || !IS(i + 3, 'e'))
            continue;
        Py_UCS4 c = PyUnicode_READ(s.kind, s.data, i + 4);
        if (c == '\'' && IS(i + 5, 's'))
            Py_RETURN_TRUE;
        if (c == ' ' && i + 7 <= s.n && IS(i + 5, 'i') && IS(i + 6, 's'))
            Py_RETURN_TRUE;
    }
#undef IS
#undef LOW
    Py_RETURN_FALSE;
}

/* The stop-word vote of answer_language.answer_language: over the first `max_words` words of
 * head.replace("'", "' ").split(), each stripped of STRIP_CHARS at both ends, the languages
 * index.get(word) names, counted in a dict in first-vote order (what collections.Counter builds). */
static int
strip_char(Py_UCS4 c)
{
    switch (c) {
    case '.': case ',': case ';': case ':': case '!': case '?': case '"': case '\'': case '(': case ')':
        return 1;
    default:
        return 0;
    }
}

static PyObject *
textscan_stopword_votes(PyObject *self, PyObject *args)
{
    PyObject *head, *index;
    Py_ssize_t max_words;
    if (!PyArg_ParseTuple(args, "UO!n", &head, &PyDict_Type, &index, &max_words))
        return NULL;
    ustr s;
    if (ustr_view(head, &s) < 0)
        return NULL;
    Py_ssize_t i = 0, words = 0;
    PyObject *votes = PyDict_New();
    if (votes == NULL)
        return NULL;
    while (words < max_words) {
        while (i < s.n && Py_UNICODE_ISSPACE(PyUnicode_READ(s.kind, s.data, i)))
            i++;
        if (i >= s.n)
            break;
        Py_ssize_t s0 = i;
        while (i < s.n) {  /* a word ends at a space, or just after an apostrophe (the "' " inserted) */
            Py_UCS4 c = PyUnicode_READ(s.kind, s.data, i);
            if (Py_UNICODE_ISSPACE(c))
                break;
            i++;
            if (c == '\'')
                break;
        }
        words++;
        Py_ssize_t a = s0, b = i;
        while (a < b && strip_char(PyUnicode_READ(s.kind, s.data, a)))
            a++;
        while (b > a && strip_char(PyUnicode_READ(s.kind, s.data, b - 1)))
            b--;
        PyObject *word = PyUnicode_Substring(head, a, b);
        if (word == NULL)
            goto fail;
        PyObject *langs = PyDict_GetItemWithError(index, word);  /* borrowed */
        Py_DECREF(word);
        if (langs == NULL) {
            if (PyErr_Occurred())
                goto fail;
            continue;
        }
        if (PyObject_IsTrue(langs) <= 0) {  /* filter(None, ...): falsy hits add nothing */
            if (PyErr_Occurred())
                goto fail;
            continue;
        }
        PyObject *it = PyObject_GetIter(langs), *code;
        if (it == NULL)
            goto fail;
        while ((code = PyIter_Next(it)) != NULL) {
            PyObject *old = PyDict_GetItemWithError(votes, code);  /* borrowed */
            PyObject *now = NULL;
            if (old == NULL && !PyErr_Occurred()) {
                now = PyLong_FromLong(1);
            } else if (old != NULL) {
                Py_ssize_t v = PyLong_AsSsize_t(old);  /* a count this function stored */
                now = v == -1 && PyErr_Occurred() ? NULL : PyLong_FromSsize_t(v + 1);
            }
            if (now == NULL || PyDict_SetItem(votes, code, now) < 0) {
                Py_XDECREF(now);
                Py_DECREF(code);
                Py_DECREF(it);
                goto fail;
            }
            Py_DECREF(now);
            Py_DECREF(code);
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            goto fail;
    }
    return votes;
fail:
    Py_DECREF(votes);
    return NULL;
}

/* garble._recurs: probes of `probe` characters at every n // (probes + 1)-th position; each found again
 * within [i + probe, i + span) (as t.find(t[i:i + probe], i + probe, i + span) finds) is a hit; True at
 * `need` hits (need - 1 given in text under `short` characters; False under 40 characters) */
static PyObject *
textscan_recurs(PyObject *self, PyObject *args)
{
    PyObject *t;
    Py_ssize_t probe, probes, need, shortlen, span;
    if (!PyArg_ParseTuple(args, "Unnnnn", &t, &probe, &probes, &need, &shortlen, &span))
        return NULL;
    ustr s;
    if (ustr_view(t, &s) < 0)
        return NULL;
    if (probe < 1 || probes < 0) {
        PyErr_SetString(PyExc_ValueError, "probe must be >= 1 and probes >= 0");
        return NULL;
    }
    if (s.n < 40)
        Py_RETURN_FALSE;
    Py_ssize_t step = s.n / (probes + 1);
    if (step < 1)
        step = 1;
    Py_ssize_t hits = s.n >= shortlen ? 0 : need - 1;
    for (Py_ssize_t i = step; i < s.n - probe; i += step) {
        Py_ssize_t end = i + span < s.n ? i + span : s.n;
        Py_UCS4 first = PyUnicode_READ(s.kind, s.data, i);
        int found = 0;
        if (s.kind == PyUnicode_1BYTE_KIND) {  /* memchr to each candidate, memcmp there */
            const unsigned char *b = (const unsigned char *)s.data;
            Py_ssize_t j = i + probe;
            while (!found && j + probe <= end) {
                const unsigned char *at = memchr(b + j, (int)first, (size_t)(end - probe + 1 - j));
                if (at == NULL)
                    break;
                j = at - b;
                found = memcmp(b + j, b + i, (size_t)probe) == 0;
                j++;
            }
        }
        for (Py_ssize_t j = i + probe; s.kind != PyUnicode_1BYTE_KIND && j + probe <= end && !found; j++) {
            if (PyUnicode_READ(s.kind, s.data, j) != first)
                continue;
            Py_ssize_t q = 1;
            while (q < probe && PyUnicode_READ(s.kind, s.data, j + q) == PyUnicode_READ(s.kind, s.data, i + q))
                q++;
            found = q == probe;
        }
        if (found && ++hits >= need)
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

/* garble's intruder pattern [own][other][own] (a letter of another script inside a word): the starts
 * of its matches in text[:end], left to right and not overlapping (what finditer gives), from a table
 * code point (< 0x10000) -> 1 own script, 2 another, 0 neither (garble._intruder_table) */
static PyObject *
textscan_intruders(PyObject *self, PyObject *args)
{
    PyObject *text, *table;
    Py_ssize_t end;
    if (!PyArg_ParseTuple(args, "UnO!", &text, &end, &PyBytes_Type, &table))
        return NULL;
    if (PyBytes_GET_SIZE(table) != 0x10000) {
        PyErr_SetString(PyExc_ValueError, "the intruder table must be 65536 bytes");
        return NULL;
    }
    ustr s;
    if (ustr_view(text, &s) < 0)
        return NULL;
    const unsigned char *tab = (const unsigned char *)PyBytes_AS_STRING(table);
    end = clamp_end(end, &s);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
#define CLS(i) (PyUnicode_READ(s.kind, s.data, (i)) < 0x10000 ? tab[PyUnicode_READ(s.kind, s.data, (i))] : 0)
    for (Py_ssize_t i = 0; i + 3 <= end; i++) {
        if (CLS(i) == 1 && CLS(i + 1) == 2 && CLS(i + 2) == 1) {
            if (append_pos(out, i) < 0) {
                Py_DECREF(out);
                return NULL;
            }
            i += 2;  /* the next match starts after this one */
        }
    }
#undef CLS
    return out;
}

/* ---- end speedtext block ---- */

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
textscan_degenerate(PyObject *self, PyObject *text)
{
    ustr s;
    if (ustr_arg(text, "degenerate", &s) < 0)
        return NULL;
    Py_ssize_t chars = 0;
    if (s.n >= 40) {
        chars = distinct_chars(s.kind, s.data, s.n > 300 ? s.n - 300 : 0, s.n);
        if (chars <= 4)
            Py_RETURN_TRUE;
    }
    if (s.n >= 150) {
        Py_ssize_t tlo = s.n > 600 ? s.n - 600 : 0;
        if (has_non_space(s.kind, s.data, s.n - 30, s.n)) {
            int r = count_at_least5(text, tlo, s.n, s.n - 30, s.n);
            if (r < 0)
                return NULL;
            if (r)
                Py_RETURN_TRUE;
        }
    } else if (s.n >= 50) {
        if (has_non_space(s.kind, s.data, s.n - 10, s.n)) {
            int r = count_at_least5(text, 0, s.n, s.n - 10, s.n);
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
    Py_ssize_t i = s.n > 600 ? s.n - 600 : 0;
    while (i < s.n) {
        while (i < s.n && Py_UNICODE_ISSPACE(PyUnicode_READ(s.kind, s.data, i)))
            i++;
        if (i >= s.n)
            break;
        Py_ssize_t s0 = i;
        Py_uhash_t h = 1469598103934665603ULL;
        while (i < s.n) {
            Py_UCS4 c = PyUnicode_READ(s.kind, s.data, i);
            if (Py_UNICODE_ISSPACE(c))
                break;
            h = (h ^ c) * 1099511628211ULL;
            i++;
        }
        Py_ssize_t len = i - s0;
        size_t slot = (size_t)h & (WORD_SLOTS - 1);
        while (wcount[slot] && !(whash[slot] == (Py_hash_t)h && wlen[slot] == len &&
                                 memcmp((const char *)s.data + s0 * s.kind, (const char *)s.data + wstart[slot] * s.kind,
                                        (size_t)(len * s.kind)) == 0))
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
    if (s.n >= 120 && ((double)distinct < 0.5 * (double)nw || chars < 40)) {
        PyObject *sub = PyUnicode_Substring(text, s.n > 900 ? s.n - 900 : 0, s.n);
        if (sub == NULL)
            return NULL;
        PyObject *enc = PyUnicode_AsUTF8String(sub);  /* lone surrogates raise, as .encode("utf-8") */
        Py_DECREF(sub);
        if (enc == NULL)
            return NULL;
        Py_ssize_t len = PyBytes_GET_SIZE(enc);
        /* the compressed size is at least floor / 8 bytes: when that is 0.16 of the input already, the
         * answer below is False without compressing (most text: deflate1_floor_bits) */
        double need = 0.16 * (double)len;
        if (deflate1_floor_bits((const unsigned char *)PyBytes_AS_STRING(enc), len, 8.0 * need) / 8.0 >= need) {
            Py_DECREF(enc);
            Py_RETURN_FALSE;
        }
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
    ustr s;
    if (ustr_arg(text, "script_profile", &s) < 0)
        return NULL;
    Py_ssize_t counts[128];
    unsigned char order[128];
    int norder = 0;
    memset(counts, 0, sizeof(counts));
    if (PyUnicode_IS_ASCII(text)) {  /* the ASCII letters are Latin */
        const unsigned char *b = (const unsigned char *)s.data;
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i < s.n; i++)
            k += ((b[i] | 0x20) >= 'a' && (b[i] | 0x20) <= 'z');
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
        for (Py_ssize_t i = 0; i < s.n; i++) {
            Py_UCS4 c = PyUnicode_READ(s.kind, s.data, i);
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
    ustr s;
    if (ustr_view(text, &s) < 0)
        return NULL;
    end = clamp_end(end, &s);
    Py_ssize_t count = 0;
    Py_ssize_t i = 0;
    while (i < end) {
        if (PyUnicode_READ(s.kind, s.data, i) == '\n') {
            Py_ssize_t m = list_item_at(s.kind, s.data, i, end);
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
in_letters(const ustr *l, Py_UCS4 c)
{
    for (Py_ssize_t k = 0; k < l->n; k++)
        if (PyUnicode_READ(l->kind, l->data, k) == c)
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
    ustr s, l;
    if (ustr_view(text, &s) < 0 || ustr_view(letters, &l) < 0)
        return NULL;
    end = clamp_end(end, &s);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 1; i < end; i++) {
        Py_UCS4 d = PyUnicode_READ(s.kind, s.data, i);
        /* (speedlex) ASCII first: a comparison instead of a call into the Unicode database per character */
        if (d < 128 ? (d < '0' || d > '9') : !Py_UNICODE_ISDECIMAL(d))
            continue;
        Py_UCS4 b1 = PyUnicode_READ(s.kind, s.data, i - 1);
        if ((in_letters(&l, b1) ||
             (i >= 2 && Py_UNICODE_ISSPACE(b1) && in_letters(&l, PyUnicode_READ(s.kind, s.data, i - 2)))) &&
            append_pos(out, i + 1) < 0) {
            Py_DECREF(out);
            return NULL;
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
    ustr s;
    if (ustr_view(text, &s) < 0)
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
    out = PyList_New(0);
    if (out == NULL)
        return NULL;
    int prev_word = 0;  /* the text's start counts as following a non-word character */
    for (Py_ssize_t p = 0; p < s.n; p++) {
        Py_UCS4 c = PyUnicode_READ(s.kind, s.data, p);
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
        for (Py_ssize_t q = p; q < s.n; q++) {
            node = trie_child(nodes, nnodes, edges, nedges, node, PyUnicode_READ(s.kind, s.data, q));
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
    /* speedtext */
    {"deflate1_floor", textscan_deflate1_floor, METH_O,
     "A lower bound, in bits, on len(zlib.compress(data, 1)) * 8 (0.0 over 4096 bytes)."},
    {"kgram_cover", textscan_kgram_cover, METH_VARARGS,
     "(a, p, k): how many characters of a lie in a k-gram of a that is in p (answer_text.near_echo)."},
    {"kgram_hits", textscan_kgram_hits, METH_VARARGS,
     "(a, p, k, step): how many a[i:i + k] in p, for i in range(0, len(a) - k + 1, step)."},
    {"here_is", textscan_here_is, METH_O, "answer_text._HERE_IS.search(text) is not None."},
    {"recurs", textscan_recurs, METH_VARARGS,
     "(t, probe, probes, need, short, span): garble._recurs, the cheap test for a loop."},
    {"intruders", textscan_intruders, METH_VARARGS,
     "(text, end, table): starts of garble's [own][other][own] matches in text[:end], as finditer."},
    {"stopword_votes", textscan_stopword_votes, METH_VARARGS,
     "(head, index, max_words): the stop-word vote of answer_language.answer_language, {language: words}."},
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
