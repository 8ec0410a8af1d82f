/* SCALE-Sim 3.0.0's per-row memory service loop for one layer, as a C extension.
 *
 * The same bookkeeping as the numba kernel in _kernels.py (that file documents it line by line;
 * tests/test_scalesim_kernels.py checks the two agree on random layers), for a process that
 * must start fast: this module loads in about a millisecond where numba takes half a second,
 * and it needs no numpy. Everything a layer needs is computed here from its scalars: the IFMAP
 * im2col address factors and, in USER mode, the prefetch order and its address -> sets table.
 *
 * simulate(layer, user, rd_if, rd_f, wr) -> tuple of R_SIZE + 4 ints
 *   layer = (df, R, C, Sr, Sc, T, M, N, K, fold_len, H, W, Fw, channels, stride, out_w)
 *   CALC (user = 0): rd_* = (address space, group words)
 *   USER (user = 1): rd_* = (address space, SRAM words, DRAM bandwidth in words per cycle)
 *   wr = (OFMAP SRAM words, drain words, line words)
 * The result is _kernels.py's result vector, then the USER-mode (init lines, prefetch lines) of
 * IFMAP and FILTER (zeros in CALC mode).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t i64;

enum { OS = 0, WS = 1, IS = 2 };
enum { IFMAP = 0, FILTER = 1, OFMAP = 2 };
enum {
    R_STALLS, R_ROWS,
    R_IF_FIRST, R_IF_LAST, R_F_FIRST, R_F_LAST, R_O_FIRST, R_O_LAST,
    R_IF_FIRST_REQ, R_F_FIRST_REQ,
    R_IF_INSERTS, R_IF_GROUPS, R_IF_LAST_CLOSE, R_F_INSERTS, R_F_GROUPS, R_F_LAST_CLOSE,
    R_IF_PREFETCHES, R_IF_LAST_PF, R_F_PREFETCHES, R_F_LAST_PF,
    R_O_WORDS, R_O_DSTART, R_O_DSTOP, R_SIZE
};
#define N_OUT (R_SIZE + 4)

typedef struct {
    i64 df, r, c, sr, sc, t, m, n, k, fold;
    i64 h, w, fw, ch, s, ew;
    i64 *pix0, *pix1, *pix2; /* per output pixel: base address, rows and columns left */
    i64 *tap0, *tap1, *tap2; /* per window tap: address offset, filter row, filter column */
} Layer;

static i64 cdiv(i64 a, i64 b) { return (a + b - 1) / b; }
static i64 imax(i64 a, i64 b) { return a > b ? a : b; }
static i64 imin(i64 a, i64 b) { return a < b ? a : b; }

/* ------------------------------------------------------------------ addresses (demand.py) */

static int layer_factors(Layer *L) {
    L->pix0 = malloc(sizeof(i64) * 3 * (size_t)L->m);
    L->tap0 = malloc(sizeof(i64) * 3 * (size_t)L->k);
    if (!L->pix0 || !L->tap0) return -1;
    L->pix1 = L->pix0 + L->m;
    L->pix2 = L->pix1 + L->m;
    L->tap1 = L->tap0 + L->k;
    L->tap2 = L->tap1 + L->k;
    for (i64 m = 0; m < L->m; m++) {
        i64 oy = m / L->ew, ox = m % L->ew;
        L->pix0[m] = (oy * L->s * L->w + ox * L->s) * L->ch;
        L->pix1[m] = L->h - oy * L->s;
        L->pix2[m] = L->w - ox * L->s;
    }
    for (i64 kk = 0; kk < L->k; kk++) {
        i64 fy = kk / (L->fw * L->ch), rem = kk % (L->fw * L->ch);
        i64 fx = rem / L->ch, c = rem % L->ch;
        L->tap0[kk] = (fy * L->w + fx) * L->ch + c;
        L->tap1[kk] = fy;
        L->tap2[kk] = fx;
    }
    return 0;
}

/* im2col address (m, kk), or -1 where the tap falls outside the IFMAP */
static inline i64 ifmap_addr(const Layer *L, i64 m, i64 kk) {
    if (L->tap1[kk] < L->pix1[m] && L->tap2[kk] < L->pix2[m]) return L->pix0[m] + L->tap0[kk];
    return -1;
}

/* The valid addresses of demand row t of fold (fr, fc), in column order (OFMAP: their count). */
static i64 fill(const Layer *L, int op, i64 t, i64 fr, i64 fc, i64 ru, i64 cu, i64 *buf) {
    i64 cnt = 0, r = L->r, c = L->c, k = L->k, n = L->n, mm = L->m;
    if (L->df == OS) {
        if (op == IFMAP) {
            for (i64 j = imax(0, t - k + 1); j < imin(ru, t + 1); j++) {
                i64 a = ifmap_addr(L, fr * r + j, t - j);
                if (a >= 0) buf[cnt++] = a;
            }
        } else if (op == FILTER) {
            for (i64 j = imax(0, t - k + 1); j < imin(cu, t + 1); j++)
                buf[cnt++] = (fc * c + j) * k + t - j;
        } else {
            cnt = imax(0, imin(cu, t - k + 2 - (r - ru)) - imax(0, t - k + 2 - r));
        }
    } else if (L->df == WS) {
        if (op == IFMAP) {
            for (i64 j = imax(0, t - r - mm + 1); j < imin(ru, t - r + 1); j++) {
                i64 a = ifmap_addr(L, t - j - r, fr * r + j);
                if (a >= 0) buf[cnt++] = a;
            }
        } else if (op == FILTER) {
            if (t < r && r - 1 - t < ru) {
                i64 kk = fr * r + r - 1 - t;
                for (i64 j = 0; j < cu; j++) buf[cnt++] = (fc * c + j) * k + kk;
            }
        } else {
            cnt = imax(0, imin(cu, t - 2 * r + 2) - imax(0, t - 2 * r + 2 - mm));
        }
    } else {
        if (op == IFMAP) {
            if (t < r && r - 1 - t < ru) {
                i64 kk = fr * r + r - 1 - t;
                for (i64 j = 0; j < cu; j++) {
                    i64 a = ifmap_addr(L, fc * c + j, kk);
                    if (a >= 0) buf[cnt++] = a;
                }
            }
        } else if (op == FILTER) {
            for (i64 j = imax(0, t - r - n + 1); j < imin(ru, t - r + 1); j++)
                buf[cnt++] = (t - j - r) * k + fr * r + j;
        } else {
            cnt = imax(0, imin(cu, t - 2 * r + 2) - imax(0, t - 2 * r + 2 - n));
        }
    }
    return cnt;
}

/* ------------------------------------------------------- USER mode: prefetch order and sets */

/* Element (i, j) of the stacked-fold prefetch matrix of an operand (demand.py prefetch_order):
 * the operand matrix with its columns cut into folds of `width`, the folds stacked vertically,
 * -1 past the last column. */
typedef struct { const Layer *L; int kind; i64 rows, cols, base_rows, width; } Stack;

enum { IF_T_R, IF_R, IF_T_C, F_C, F_T_R }; /* which matrix is stacked, and by what width */

static i64 stack_elem(const Stack *S, i64 i, i64 j) {
    const Layer *L = S->L;
    i64 f = i / S->base_rows, row = i % S->base_rows, col = f * S->width + j;
    switch (S->kind) {
    case IF_T_R: /* ifmap^T (K x M) by R */
    case IF_T_C: /* ifmap^T (K x M) by C */
        return col < L->m ? ifmap_addr(L, col, row) : -1;
    case IF_R: /* ifmap (M x K) by R */
        return col < L->k ? ifmap_addr(L, row, col) : -1;
    case F_C: /* filter (K x N) by C */
        return col < L->n ? col * L->k + row : -1;
    default: /* filter^T (N x K) by R */
        return col < L->k ? row * L->k + col : -1;
    }
}

static void make_stack(const Layer *L, int operand, Stack *S, int *diagonal) {
    S->L = L;
    i64 base_rows, base_cols;
    if (operand == IFMAP) {
        if (L->df == OS) { S->kind = IF_T_R; base_rows = L->k; base_cols = L->m; S->width = L->r; *diagonal = 1; }
        else if (L->df == WS) { S->kind = IF_R; base_rows = L->m; base_cols = L->k; S->width = L->r; *diagonal = 1; }
        else { S->kind = IF_T_C; base_rows = L->k; base_cols = L->m; S->width = L->c; *diagonal = 0; }
    } else {
        if (L->df == OS) { S->kind = F_C; base_rows = L->k; base_cols = L->n; S->width = L->c; *diagonal = 1; }
        else if (L->df == WS) { S->kind = F_C; base_rows = L->k; base_cols = L->n; S->width = L->c; *diagonal = 0; }
        else { S->kind = F_T_R; base_rows = L->n; base_cols = L->k; S->width = L->r; *diagonal = 1; }
    }
    S->base_rows = base_rows;
    S->rows = cdiv(base_cols, S->width) * base_rows;
    S->cols = S->width;
}

/* Call visit(addr) for every valid entry of the flat prefetch order: by anti-diagonal, each
 * bottom-up (diagonal), or row by row. */
#define FOR_EACH_PREFETCH(S, diagonal, a, BODY)                                             \
    do {                                                                                    \
        if (diagonal) {                                                                     \
            for (i64 d_ = 0; d_ < (S)->rows + (S)->cols - 1; d_++)                          \
                for (i64 c_ = imax(0, d_ - (S)->rows + 1); c_ < imin((S)->cols, d_ + 1); c_++) { \
                    i64 a = stack_elem((S), d_ - c_, c_);                                   \
                    if (a >= 0) { BODY }                                                    \
                }                                                                           \
        } else {                                                                            \
            for (i64 r_ = 0; r_ < (S)->rows; r_++)                                          \
                for (i64 c_ = 0; c_ < (S)->cols; c_++) {                                    \
                    i64 a = stack_elem((S), r_, c_);                                        \
                    if (a >= 0) { BODY }                                                    \
                }                                                                           \
        }                                                                                   \
    } while (0)

typedef struct {
    i64 *ptr;      /* space + 1 */
    int32_t *sets; /* sorted set ids per address */
    i64 nsets, fetch_words;
} Sets;

/* demand.py prefetch_sets: valid entries cut into sets of set_words; address -> its set ids */
static int build_sets(const Layer *L, int operand, i64 space, i64 set_words, Sets *out) {
    Stack S;
    int diagonal;
    make_stack(L, operand, &S, &diagonal);
    out->fetch_words = S.rows * S.cols;
    out->ptr = calloc((size_t)space + 1, sizeof(i64));
    int32_t *last = malloc(sizeof(int32_t) * ((size_t)space + 1));
    if (!out->ptr || !last) { free(last); return -1; }
    for (i64 i = 0; i < space; i++) last[i] = -1;
    i64 v = 0;
    FOR_EACH_PREFETCH(&S, diagonal, a, {
        int32_t s = (int32_t)(v / set_words);
        if (last[a] != s) { last[a] = s; out->ptr[a + 1]++; }
        v++;
    });
    out->nsets = v / set_words + 1;
    for (i64 i = 0; i < space; i++) out->ptr[i + 1] += out->ptr[i];
    out->sets = malloc(sizeof(int32_t) * (size_t)imax(1, out->ptr[space]));
    i64 *pos = malloc(sizeof(i64) * (size_t)imax(1, space));
    if (!out->sets || !pos) { free(last); free(pos); return -1; }
    memcpy(pos, out->ptr, sizeof(i64) * (size_t)space);
    for (i64 i = 0; i < space; i++) last[i] = -1;
    v = 0;
    FOR_EACH_PREFETCH(&S, diagonal, a, {
        int32_t s = (int32_t)(v / set_words);
        if (last[a] != s) { last[a] = s; out->sets[pos[a]++] = s; }
        v++;
    });
    free(last);
    free(pos);
    return 0;
}

/* ------------------------------------------------------------------- read and write buffers */

static void calc_read(const i64 *buf, i64 cnt, i64 cycle, int32_t *stamp, i64 *st, i64 *res,
                      int base) {
    for (i64 i = 0; i < cnt; i++) {
        i64 a = buf[i];
        if (stamp[a] != st[0]) {
            stamp[a] = (int32_t)st[0];
            res[base] += 1;
            st[1] += 1;
            if (st[1] == st[2]) {
                st[0] += 1;
                st[1] = 0;
                res[base + 1] += 1;
                res[base + 2] = cycle;
            }
        }
    }
}

static int in_window(const i64 *ptr, const int32_t *sets, i64 a, i64 start, i64 nactive,
                     i64 nsets) {
    i64 lo = ptr[a], hi = ptr[a + 1];
    if (lo == hi) return 0;
    i64 end = start + nactive, left = lo, right = hi;
    while (left < right) {
        i64 mid = (left + right) / 2;
        if (sets[mid] < start) left = mid + 1; else right = mid;
    }
    if (left < hi && sets[left] < end) return 1;
    return end > nsets && sets[lo] < end - nsets;
}

/* rd = (nsets, nactive, npf, pf_lines); st = (window start, last prefetch cycle) */
static i64 user_read(const i64 *buf, i64 cnt, i64 cycle, const Sets *S, const i64 *rd, i64 *st,
                     i64 *res, int base) {
    i64 offset = 1, nsets = rd[0];
    for (i64 i = 0; i < cnt; i++) {
        i64 a = buf[i], tries = 0;
        while (!in_window(S->ptr, S->sets, a, st[0], rd[1], nsets)) {
            if (tries > nsets) break;
            tries++;
            st[0] = (st[0] + rd[2]) % nsets;
            st[1] += rd[3] + 1;
            res[base] += 1;
            res[base + 1] = st[1];
            i64 wait = st[1] - (cycle + offset);
            offset += wait;
            if (wait > 0) offset += wait;
        }
    }
    return offset;
}

/* ws = [free, line fill, lines, drained lines, drain end, total, active, bw, drain size] */
static i64 drain(i64 *ws, const i64 *lines, i64 start_cycle, i64 *res) {
    i64 bw = ws[7], per = (ws[8] + bw - 1) / bw, first = ws[3];
    i64 last = imin(first + per, ws[2]), num = last - first;
    if (num <= 0) return start_cycle - 1;
    i64 words = num * bw - (bw - lines[last - 1]);
    res[R_O_WORDS] += words;
    ws[0] += words;
    ws[3] = last;
    i64 end = start_cycle + num - 1;
    res[R_O_DSTART] = imin(res[R_O_DSTART], start_cycle);
    res[R_O_DSTOP] = imax(res[R_O_DSTOP], end);
    return end;
}

static void flush_line(i64 *ws, i64 *lines) {
    if (ws[1] > 0) {
        lines[ws[2]] = ws[1];
        ws[2] += 1;
        ws[1] = 0;
    }
}

static i64 write_words(i64 cnt, i64 cycle, i64 *ws, i64 *lines, i64 *res) {
    i64 cur = cycle, bw = ws[7];
    for (i64 i = 0; i < cnt; i++) {
        ws[1] += 1;
        ws[0] -= 1;
        if (ws[1] == bw) {
            lines[ws[2]] = bw;
            ws[2] += 1;
            ws[1] = 0;
        }
        if (cur < ws[4]) {
            if (ws[0] <= 0) cur = ws[4];
        } else if (ws[0] < ws[5] - ws[8]) {
            flush_line(ws, lines);
            ws[4] = drain(ws, lines, cur, res);
        }
    }
    return cur - cycle;
}

/* ----------------------------------------------------------------------------- the layer */

static int get_ints(PyObject *tuple, i64 *out, Py_ssize_t n, const char *what) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != n) {
        PyErr_Format(PyExc_ValueError, "%s must be a tuple of %zd ints", what, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(tuple, i));
        if (out[i] == -1 && PyErr_Occurred()) return -1;
    }
    return 0;
}

/* USER-mode read parameters of one operand (memory.py _user_read_params):
 * rd = (nsets, nactive, npf, pf_lines), lines = (init lines, prefetch lines) */
static int user_params(const Layer *L, int operand, const i64 *in, Sets *S, i64 *rd,
                       i64 *lines) {
    i64 space = in[0], size = in[1], bw = in[2];
    i64 per_set = cdiv(size, 100), active = cdiv(size, 2), prefetch = size - active;
    if (build_sets(L, operand, space, per_set, S) < 0) return -1;
    i64 nactive = imin(cdiv(active, per_set), S->nsets);
    rd[0] = S->nsets;
    rd[1] = nactive;
    rd[2] = imin(cdiv(prefetch, per_set), S->nsets - nactive);
    rd[3] = cdiv(prefetch, bw);
    lines[0] = imin(cdiv(active, bw), cdiv(S->fetch_words, bw));
    lines[1] = rd[3];
    return 0;
}

static PyObject *simulate(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *geo_t, *rd_if_t, *rd_f_t, *wr_t;
    int user;
    if (!PyArg_ParseTuple(args, "OiOOO", &geo_t, &user, &rd_if_t, &rd_f_t, &wr_t)) return NULL;
    i64 g[16], in_if[3], in_f[3], wr[3];
    if (get_ints(geo_t, g, 16, "layer") < 0 || get_ints(wr_t, wr, 3, "wr") < 0) return NULL;
    if (get_ints(rd_if_t, in_if, user ? 3 : 2, "rd_if") < 0 ||
        get_ints(rd_f_t, in_f, user ? 3 : 2, "rd_f") < 0) return NULL;
    Layer L = {.df = g[0], .r = g[1], .c = g[2], .sr = g[3], .sc = g[4], .t = g[5], .m = g[6],
               .n = g[7], .k = g[8], .fold = g[9], .h = g[10], .w = g[11], .fw = g[12],
               .ch = g[13], .s = g[14], .ew = g[15]};
    i64 res[N_OUT] = {0};
    i64 *buf = NULL, *lines = NULL;
    int32_t *stamp_if = NULL, *stamp_f = NULL;
    Sets s_if = {0}, s_f = {0};
    i64 rd_if[4] = {0}, rd_f[4] = {0};
    PyObject *out = NULL;
    int failed = layer_factors(&L) < 0;

    Py_BEGIN_ALLOW_THREADS
    if (!failed && user) {
        failed = user_params(&L, IFMAP, in_if, &s_if, rd_if, res + R_SIZE) < 0 ||
                 user_params(&L, FILTER, in_f, &s_f, rd_f, res + R_SIZE + 2) < 0;
    } else if (!failed) {
        stamp_if = calloc((size_t)imax(1, in_if[0]), sizeof(int32_t));
        stamp_f = calloc((size_t)imax(1, in_f[0]), sizeof(int32_t));
        failed = !stamp_if || !stamp_f;
    }
    i64 width = imax(L.r, L.c), nlines = 4096;
    buf = malloc(sizeof(i64) * 2 * (size_t)width);
    lines = calloc((size_t)nlines, sizeof(i64));
    failed = failed || !buf || !lines;
    if (!failed) {
        i64 *buf_if = buf, *buf_f = buf + width;
        i64 r = L.r, c = L.c;
        i64 fr_n = cdiv(L.sr, r), fc_n = cdiv(L.sc, c);
        for (int i = R_IF_FIRST; i <= R_F_FIRST_REQ; i++) res[i] = -1;
        res[R_O_DSTART] = INT64_MAX;
        res[R_O_DSTOP] = INT64_MIN;
        i64 st_if[3] = {1, 0, user ? 0 : in_if[1]}, st_f[3] = {1, 0, user ? 0 : in_f[1]};
        if (user) {
            st_if[0] = 0; st_if[1] = -1;
            st_f[0] = 0; st_f[1] = -1;
        }
        i64 total = wr[0], drain_words = wr[1], bw = wr[2];
        i64 ws[9] = {total, 0, 0, 0, 0, total, total - drain_words, bw, drain_words};
        i64 row = 0, stalls = 0, last_o_cycle = 0;
        for (i64 fc = 0; fc < fc_n && !failed; fc++) {
            i64 cu = imin(c, L.sc - fc * c);
            for (i64 fr = 0; fr < fr_n && !failed; fr++) {
                i64 ru = imin(r, L.sr - fr * r);
                for (i64 t = 0; t < L.fold; t++) {
                    i64 cycle = row + stalls;
                    i64 n_if = fill(&L, IFMAP, t, fr, fc, ru, cu, buf_if);
                    i64 n_f = fill(&L, FILTER, t, fr, fc, ru, cu, buf_f);
                    i64 n_o = fill(&L, OFMAP, t, fr, fc, ru, cu, NULL);
                    i64 off_if = 1, off_f = 1;
                    if (user) {
                        off_if = user_read(buf_if, n_if, cycle, &s_if, rd_if, st_if, res,
                                           R_IF_PREFETCHES);
                        off_f = user_read(buf_f, n_f, cycle, &s_f, rd_f, st_f, res,
                                          R_F_PREFETCHES);
                    } else {
                        calc_read(buf_if, n_if, cycle, stamp_if, st_if, res, R_IF_INSERTS);
                        calc_read(buf_f, n_f, cycle, stamp_f, st_f, res, R_F_INSERTS);
                    }
                    if (ws[2] + 2 * n_o + 2 > nlines) { /* each word adds at most 2 lines */
                        i64 grown = imax(ws[2] + 2 * n_o + 2, 2 * nlines);
                        i64 *more = realloc(lines, sizeof(i64) * (size_t)grown);
                        if (!more) { failed = 1; break; }
                        memset(more + nlines, 0, sizeof(i64) * (size_t)(grown - nlines));
                        lines = more;
                        nlines = grown;
                    }
                    i64 off_o = write_words(n_o, cycle, ws, lines, res);
                    if (n_if > 0) {
                        if (res[R_IF_FIRST] < 0) {
                            res[R_IF_FIRST] = cycle + off_if;
                            res[R_IF_FIRST_REQ] = cycle;
                        }
                        res[R_IF_LAST] = cycle + off_if;
                    }
                    if (n_f > 0) {
                        if (res[R_F_FIRST] < 0) {
                            res[R_F_FIRST] = cycle + off_f;
                            res[R_F_FIRST_REQ] = cycle;
                        }
                        res[R_F_LAST] = cycle + off_f;
                    }
                    if (n_o > 0) {
                        if (res[R_O_FIRST] < 0) res[R_O_FIRST] = cycle + off_o;
                        res[R_O_LAST] = cycle + off_o;
                    }
                    last_o_cycle = cycle + off_o;
                    stalls += imax(imax(off_if - 1, off_f - 1), off_o);
                    row += 1;
                }
            }
        }
        if (!failed) {
            flush_line(ws, lines);
            i64 cyc = last_o_cycle;
            while (ws[3] < ws[2]) cyc = drain(ws, lines, cyc, res) + 1;
            res[R_STALLS] = stalls;
            res[R_ROWS] = row;
        }
    }
    Py_END_ALLOW_THREADS

    if (failed) {
        PyErr_NoMemory();
    } else {
        out = PyTuple_New(N_OUT);
        for (int i = 0; out && i < N_OUT; i++) {
            PyObject *v = PyLong_FromLongLong(res[i]);
            if (!v) { Py_CLEAR(out); break; }
            PyTuple_SET_ITEM(out, i, v);
        }
    }
    free(L.pix0); free(L.tap0); free(buf); free(lines); free(stamp_if); free(stamp_f);
    free(s_if.ptr); free(s_if.sets); free(s_f.ptr); free(s_f.sets);
    return out;
}

static PyMethodDef methods[] = {
    {"simulate", simulate, METH_VARARGS,
     "simulate(layer, user, rd_if, rd_f, wr) -> one SCALE-Sim layer's memory results"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_memloop",
    .m_doc = "SCALE-Sim's memory service loop (see _memloop.c).", .m_size = -1,
    .m_methods = methods};

PyMODINIT_FUNC PyInit__memloop(void) { return PyModule_Create(&module); }
