/* ttlv._speedups: the TTLV decode loop of ttlv.codec in C (CPython C API, C99, no other library).
 *
 * Invariants:
 * - decode_span(data, start, end, limits) is ttlv.codec._decode_span_py: same accepted inputs,
 *   same Item tree, same errors (class, message, offset), checked in the same order. The Python
 *   function is the reference; tests/unit/ttlv and tests/property compare the two on every input
 *   they try. Any change to one is made to the other. The C loop takes the calls ttlv.codec makes
 *   (bytes, a span of whole 8-byte blocks, int limits); any other call goes to the reference, so
 *   that even a call outside that contract behaves as the Python one does.
 * - Nothing is read outside data[start:end]. Every position and length is 64-bit (int64_t), so a
 *   32-bit length field cannot overflow what it is added to.
 * - Limits are checked before anything is allocated: max_items before each item is built,
 *   max_depth before each Structure is opened; the arrays below grow with the items and
 *   Structures actually decoded, never with a declared length.
 * - No recursion: open Structures live on an explicit stack; their members so far sit on one
 *   shared array of items, from which a closing Structure takes its tuple.
 * - Items are built as object.__new__(Item) plus the three slot stores that
 *   ttlv.codec._slot_setter's descriptors make: tp_alloc, then the slots written at the offsets
 *   their member descriptors declare. The module refuses to load (ImportError, and ttlv.codec
 *   falls back to Python) unless Item is exactly three object slots and nothing else.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <stdint.h>
#include <string.h>

/* Item type bytes (KMIP 1.4 section 9.1.1.2, Table 280). */
enum {
    STRUCTURE = 0x01,
    INTEGER = 0x02,
    LONG_INTEGER = 0x03,
    BIG_INTEGER = 0x04,
    ENUMERATION = 0x05,
    BOOLEAN = 0x06,
    TEXT_STRING = 0x07,
    BYTE_STRING = 0x08,
    DATE_TIME = 0x09,
    INTERVAL = 0x0A,
};

/* Tags whose int objects are kept for reuse: 0x420000 + index (every tag KMIP 1.4 defines). */
#define TAG_CACHE_FIRST 0x420000u
#define TAG_CACHE_SIZE 512u

typedef struct {
    PyTypeObject *item_type;   /* ttlv.item.Item */
    Py_ssize_t off_tag;        /* byte offsets of its three slots */
    Py_ssize_t off_type;
    Py_ssize_t off_value;
    PyObject *item_types[11];  /* ItemType member by type byte (index 0 unused) */
    PyObject *decode_error;    /* ttlv.errors.DecodeError, TooManyItems, NestingTooDeep */
    PyObject *too_many_items;
    PyObject *nesting_too_deep;
    PyObject *str_max_items;
    PyObject *str_max_depth;
    PyObject *tags[TAG_CACHE_SIZE]; /* filled as tags are met (ints are immutable) */
} speedups_state;

static inline speedups_state *
get_state(PyObject *module)
{
    return (speedups_state *)PyModule_GetState(module);
}

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

static inline uint32_t
load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t
load_be64(const unsigned char *p)
{
    return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

/* ------------------------------------------------------------------------------------------ */
/* Errors: cls(message, offset), as the Python code raises them. */

static void
raise_at(PyObject *cls, PyObject *message, int64_t offset)
{
    if (message == NULL) {
        return;
    }
    PyObject *where = PyLong_FromLongLong(offset);
    if (where == NULL) {
        Py_DECREF(message);
        return;
    }
    PyObject *args[2] = {message, where};
    PyObject *exc = PyObject_Vectorcall(cls, args, 2, NULL);
    Py_DECREF(message);
    Py_DECREF(where);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static void
decode_error(speedups_state *st, const char *message, int64_t offset)
{
    raise_at(st->decode_error, PyUnicode_FromString(message), offset);
}

/* The f-string rendering of a limit (format(value, "")), for the limit errors' messages. */
static void
limit_error(PyObject *cls, const char *before, PyObject *limit, const char *after, int64_t offset)
{
    PyObject *empty = PyUnicode_FromStringAndSize(NULL, 0);
    if (empty == NULL) {
        return;
    }
    PyObject *text = PyObject_Format(limit, empty);
    Py_DECREF(empty);
    if (text == NULL) {
        return;
    }
    raise_at(cls, PyUnicode_FromFormat("%s%U%s", before, text, after), offset);
    Py_DECREF(text);
}

static PyObject *import_attribute(const char *module_name, const char *name);

/* ------------------------------------------------------------------------------------------ */
/* Building Items */

static PyObject *
tag_object(speedups_state *st, uint32_t tag)
{
    uint32_t index = tag - TAG_CACHE_FIRST; /* wraps for tags below: then it is out of range */
    if (index < TAG_CACHE_SIZE) {
        PyObject *cached = st->tags[index];
        if (cached == NULL) {
            cached = PyLong_FromUnsignedLong(tag);
            if (cached == NULL) {
                return NULL;
            }
            st->tags[index] = cached;
        }
        Py_INCREF(cached);
        return cached;
    }
    return PyLong_FromUnsignedLong(tag);
}

/* Item(tag, item_types[code], value) as object.__new__ and the slot descriptors make it.
 * Steals ``value`` (which may be NULL: an error already set). */
static PyObject *
new_item(speedups_state *st, uint32_t tag, int code, PyObject *value)
{
    if (value == NULL) {
        return NULL;
    }
    PyObject *tag_obj = tag_object(st, tag);
    if (tag_obj == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyTypeObject *type = st->item_type;
    PyObject *obj = type->tp_alloc(type, 0);
    if (obj == NULL) {
        Py_DECREF(tag_obj);
        Py_DECREF(value);
        return NULL;
    }
    PyObject *item_type = st->item_types[code];
    Py_INCREF(item_type);
    SLOT(obj, st->off_tag) = tag_obj;
    SLOT(obj, st->off_type) = item_type;
    SLOT(obj, st->off_value) = value;
    return obj;
}

/* The int of a Big Integer's value bytes (two's complement, big-endian). */
static PyObject *
big_integer(const unsigned char *p, int64_t n)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyLong_FromNativeBytes(p, (size_t)n, Py_ASNATIVEBYTES_BIG_ENDIAN);
#else
    return _PyLong_FromByteArray(p, (size_t)n, 0, 1);
#endif
}

/* Whether ``n`` bytes (a positive multiple of 8) are the minimal two's-complement encoding of
 * their value, rounded up to 8 (codec._big_integer_length(value) == n): they are not if the
 * first 8 bytes and the sign bit of the ninth all repeat the sign. */
static int
big_integer_is_minimal(const unsigned char *p, int64_t n)
{
    if (n < 16) {
        return 1;
    }
    unsigned char sign = (p[0] & 0x80) ? 0xFF : 0x00;
    for (int i = 0; i < 8; i++) {
        if (p[i] != sign) {
            return 1;
        }
    }
    return (p[8] & 0x80) != (sign & 0x80);
}

/* ------------------------------------------------------------------------------------------ */
/* The decode loop */

typedef struct {
    Py_ssize_t base; /* index in ``items`` of its first member */
    int64_t end;     /* the parent's end offset */
    uint32_t tag;
} open_structure;

typedef struct {
    PyObject **items; /* members decoded so far of every open Structure, outermost first */
    Py_ssize_t count;
    Py_ssize_t capacity;
    open_structure *stack;
    Py_ssize_t depth;
    Py_ssize_t stack_capacity;
} decoder;

static int
grow(void **array, Py_ssize_t *capacity, size_t element)
{
    Py_ssize_t wanted = *capacity ? *capacity * 2 : 64;
    if ((size_t)wanted > PY_SSIZE_T_MAX / element) {
        PyErr_NoMemory();
        return -1;
    }
    void *bigger = PyMem_Realloc(*array, (size_t)wanted * element);
    if (bigger == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *array = bigger;
    *capacity = wanted;
    return 0;
}

/* Appends ``item`` (stolen; NULL: an error already set) to the open Structure's members. */
static int
push_item(decoder *d, PyObject *item)
{
    if (item == NULL) {
        return -1;
    }
    if (d->count == d->capacity &&
        grow((void **)&d->items, &d->capacity, sizeof(PyObject *)) < 0) {
        Py_DECREF(item);
        return -1;
    }
    d->items[d->count++] = item;
    return 0;
}

static void
decoder_free(decoder *d)
{
    for (Py_ssize_t i = 0; i < d->count; i++) {
        Py_DECREF(d->items[i]);
    }
    PyMem_Free(d->items);
    PyMem_Free(d->stack);
}

typedef struct {
    long long max_items;
    long long max_depth;
    PyObject *max_items_obj; /* the values themselves, for the errors' messages */
    PyObject *max_depth_obj;
} limits_t;

static const char *const TYPE_LENGTH_ERRORS[11] = {
    [INTEGER] = "Integer length must be 4",
    [LONG_INTEGER] = "Long Integer length must be 8",
    [ENUMERATION] = "Enumeration length must be 4",
    [BOOLEAN] = "Boolean length must be 8",
    [DATE_TIME] = "Date Time length must be 8",
    [INTERVAL] = "Interval length must be 4",
};

/* Decodes data[start:end] into d->items (every item at the top level, in order). */
static int
decode_items(speedups_state *st, decoder *d, const unsigned char *data, int64_t start,
             int64_t end, const limits_t *limits)
{
    const long long max_items = limits->max_items;
    const long long max_depth = limits->max_depth;
    long long count = 0;
    int64_t pos = start;
    for (;;) {
        if (pos == end) {
            if (d->depth == 0) {
                break;
            }
            open_structure *closing = &d->stack[--d->depth];
            Py_ssize_t members = d->count - closing->base;
            PyObject *tuple = PyTuple_New(members);
            if (tuple == NULL) {
                return -1;
            }
            for (Py_ssize_t i = 0; i < members; i++) {
                PyTuple_SET_ITEM(tuple, i, d->items[closing->base + i]);
            }
            d->count = closing->base;
            end = closing->end;
            if (push_item(d, new_item(st, closing->tag, STRUCTURE, tuple)) < 0) {
                return -1;
            }
            continue;
        }
        /* end - pos is a positive multiple of 8 here (decode_span checks the span; every
         * Structure length and every step is one): a whole header is present. */
        const unsigned char *header = data + pos;
        uint32_t tag = load_be32(header) >> 8;
        int code = header[3];
        int64_t length = load_be32(header + 4);
        if (!((tag >= 0x420001u && tag <= 0x42FFFFu) || (tag >= 0x540000u && tag <= 0x54FFFFu))) {
            char message[32];
            snprintf(message, sizeof message, "invalid tag 0x%06x", (unsigned)tag);
            decode_error(st, message, pos);
            return -1;
        }
        if (++count > max_items) {
            limit_error(st->too_many_items, "more than ", limits->max_items_obj, " items", pos);
            return -1;
        }
        int64_t vpos = pos + 8;
        PyObject *value;
        switch (code) {
        case STRUCTURE:
            if (length & 7) {
                decode_error(st, "Structure length is not a multiple of 8", pos + 4);
                return -1;
            }
            if (length > end - vpos) {
                decode_error(st, "Structure extends beyond its parent", pos + 4);
                return -1;
            }
            if (d->depth >= max_depth) {
                limit_error(st->nesting_too_deep, "Structures nested deeper than ",
                            limits->max_depth_obj,
                            "", pos);
                return -1;
            }
            if (d->depth == d->stack_capacity &&
                grow((void **)&d->stack, &d->stack_capacity, sizeof(open_structure)) < 0) {
                return -1;
            }
            d->stack[d->depth++] = (open_structure){d->count, end, tag};
            end = vpos + length;
            pos = vpos;
            continue;

        case TEXT_STRING:
        case BYTE_STRING: {
            int64_t padded = (length + 7) & ~(int64_t)7;
            if (padded > end - vpos) {
                decode_error(st, "item extends beyond its parent", pos + 4);
                return -1;
            }
            int64_t stop = vpos + length;
            pos = vpos + padded;
            for (int64_t i = stop; i < pos; i++) {
                if (data[i]) {
                    decode_error(st, "non-zero padding", stop);
                    return -1;
                }
            }
            if (code == BYTE_STRING) {
                value = PyBytes_FromStringAndSize((const char *)data + vpos, (Py_ssize_t)length);
            }
            else {
                value = PyUnicode_DecodeUTF8((const char *)data + vpos, (Py_ssize_t)length, NULL);
                if (value == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                    Py_ssize_t bad = 0;
#if PY_VERSION_HEX >= 0x030C0000
                    PyObject *exc = PyErr_GetRaisedException();
                    int got = PyUnicodeDecodeError_GetStart(exc, &bad);
                    Py_DECREF(exc);
#else
                    PyObject *exc_type, *exc, *traceback;
                    PyErr_Fetch(&exc_type, &exc, &traceback);
                    PyErr_NormalizeException(&exc_type, &exc, &traceback);
                    int got = PyUnicodeDecodeError_GetStart(exc, &bad);
                    Py_XDECREF(exc_type);
                    Py_XDECREF(exc);
                    Py_XDECREF(traceback);
#endif
                    if (got == 0) {
                        decode_error(st, "Text String is not valid UTF-8", vpos + bad);
                    }
                    return -1;
                }
            }
            break;
        }

        case ENUMERATION:
        case INTEGER:
        case INTERVAL:
        case BOOLEAN:
            if (length != (code == BOOLEAN ? 8 : 4)) {
                decode_error(st, TYPE_LENGTH_ERRORS[code], pos + 4);
                return -1;
            }
            if (end - vpos < 8) {
                decode_error(st, "item extends beyond its parent", pos + 4);
                return -1;
            }
            if (code == BOOLEAN) {
                uint64_t raw = load_be64(data + vpos);
                if (raw > 1) {
                    decode_error(st, "Boolean value is neither 0 nor 1", vpos);
                    return -1;
                }
                value = PyBool_FromLong((long)raw);
            }
            else {
                uint32_t raw = load_be32(data + vpos);
                if (load_be32(data + vpos + 4)) {
                    decode_error(st, "non-zero padding", vpos + 4);
                    return -1;
                }
                value = code == INTEGER ? PyLong_FromLong((long)(int32_t)raw)
                                        : PyLong_FromUnsignedLong(raw);
            }
            pos = vpos + 8;
            break;

        case LONG_INTEGER:
        case DATE_TIME:
            if (length != 8) {
                decode_error(st, TYPE_LENGTH_ERRORS[code], pos + 4);
                return -1;
            }
            if (end - vpos < 8) {
                decode_error(st, "item extends beyond its parent", pos + 4);
                return -1;
            }
            value = PyLong_FromLongLong((long long)(int64_t)load_be64(data + vpos));
            pos = vpos + 8;
            break;

        case BIG_INTEGER:
            if ((length & 7) || length == 0) {
                decode_error(st, "Big Integer length is not a positive multiple of 8", pos + 4);
                return -1;
            }
            if (length > end - vpos) {
                decode_error(st, "item extends beyond its parent", pos + 4);
                return -1;
            }
            pos = vpos + length;
            if (!big_integer_is_minimal(data + vpos, length)) {
                decode_error(st, "Big Integer is not minimally encoded", vpos);
                return -1;
            }
            value = big_integer(data + vpos, length);
            break;

        default: {
            char message[32];
            snprintf(message, sizeof message, "unknown item type 0x%02x", (unsigned)code);
            decode_error(st, message, pos + 3);
            return -1;
        }
        }
        if (push_item(d, new_item(st, tag, code, value)) < 0) {
            return -1;
        }
    }
    return 0;
}

PyDoc_STRVAR(decode_span_doc,
"decode_span(data, start, end, limits, /)\n--\n\n"
"Decode the one item that occupies data[start:end]: ttlv.codec._decode_span_py in C.\n\n"
"The C loop runs when data is bytes, start and end are ints with data[start:end] a non-empty\n"
"run of 8-byte blocks (as ttlv.codec's callers guarantee) and limits.max_items and\n"
"limits.max_depth are ints; any other call is passed to _decode_span_py, so that the two\n"
"agree on every input.");

/* The Python reference, for the calls the C loop does not take (none from ttlv.codec). */
static PyObject *
decode_span_py(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *reference = import_attribute("ttlv.codec", "_decode_span_py");
    if (reference == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_Vectorcall(reference, args, (size_t)nargs, kwnames);
    Py_DECREF(reference);
    return result;
}

/* A Limits attribute: 1 and its value if it is an int (saturated to int64: a limit beyond is
 * never reached), 0 if it is something else, -1 on error (getattr's, as Python raises it). */
static int
read_limit(PyObject *limits, PyObject *name, PyObject **value, long long *out)
{
    *value = PyObject_GetAttr(limits, name);
    if (*value == NULL) {
        return -1;
    }
    if (!PyLong_CheckExact(*value)) {
        return 0; /* compared, and printed, by Python's rules: the reference decides */
    }
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(*value, &overflow);
    if (overflow) {
        *out = overflow > 0 ? LLONG_MAX : LLONG_MIN;
    }
    return 1;
}

/* An index argument, if it is an int that fits; else -1 (no error set). */
static Py_ssize_t
read_index(PyObject *value)
{
    if (!PyLong_CheckExact(value)) {
        return -1;
    }
    Py_ssize_t index = PyLong_AsSsize_t(value);
    if (index == -1 && PyErr_Occurred()) {
        PyErr_Clear(); /* OverflowError: not a position in any bytes object */
    }
    return index;
}

static PyObject *
decode_span(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 4 || kwnames != NULL) {
        return decode_span_py(args, nargs, kwnames);
    }
    PyObject *data = args[0];
    Py_ssize_t start = read_index(args[1]);
    Py_ssize_t end = read_index(args[2]);
    if (!PyBytes_Check(data) || start < 0 || end <= start || end > PyBytes_GET_SIZE(data) ||
        (end - start) & 7) {
        return decode_span_py(args, nargs, NULL);
    }
    speedups_state *st = get_state(module);
    PyObject *max_items_obj = NULL;
    PyObject *max_depth_obj = NULL;
    limits_t limits;
    int got_items = read_limit(args[3], st->str_max_items, &max_items_obj, &limits.max_items);
    int got_depth = got_items < 0 ? -1
                    : read_limit(args[3], st->str_max_depth, &max_depth_obj, &limits.max_depth);
    PyObject *item = NULL;
    if (got_items == 1 && got_depth == 1) {
        limits.max_items_obj = max_items_obj;
        limits.max_depth_obj = max_depth_obj;
        decoder d = {0};
        /* The buffer of an immutable bytes object: it stays put while ``data`` is referenced. */
        if (decode_items(st, &d, (const unsigned char *)PyBytes_AS_STRING(data), start, end,
                         &limits) == 0) {
            item = d.items[0]; /* the span holds at least one item: end > start */
            Py_INCREF(item);
        }
        decoder_free(&d);
    }
    else if (got_items == 0 || got_depth == 0) {
        item = decode_span_py(args, nargs, NULL);
    }
    Py_XDECREF(max_items_obj);
    Py_XDECREF(max_depth_obj);
    return item;
}

static PyMethodDef speedups_methods[] = {
    {"decode_span", (PyCFunction)(void (*)(void))decode_span, METH_FASTCALL | METH_KEYWORDS,
     decode_span_doc},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------------------------------ */
/* Module set-up: find Item's slots and refuse to load if Item is not what this file assumes. */

static int
slot_offset(PyTypeObject *item_type, const char *name, Py_ssize_t *offset)
{
    PyObject *descriptor = PyDict_GetItemString(item_type->tp_dict, name); /* borrowed */
    if (descriptor == NULL || !Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
        PyErr_Format(PyExc_ImportError, "ttlv._speedups: Item.%s is not a slot", name);
        return -1;
    }
    PyMemberDescrObject *member = (PyMemberDescrObject *)descriptor;
    PyMemberDef *def = member->d_member;
    if (member->d_common.d_type != item_type || def->type != T_OBJECT_EX ||
        (def->flags & READONLY) || def->offset < (Py_ssize_t)sizeof(PyObject) ||
        def->offset + (Py_ssize_t)sizeof(PyObject *) > item_type->tp_basicsize) {
        PyErr_Format(PyExc_ImportError, "ttlv._speedups: Item.%s is not an object slot", name);
        return -1;
    }
    *offset = def->offset;
    return 0;
}

static PyObject *
import_attribute(const char *module_name, const char *name)
{
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetAttrString(module, name);
    Py_DECREF(module);
    return value;
}

static int
speedups_exec(PyObject *module)
{
    speedups_state *st = get_state(module);
    PyObject *item_type = import_attribute("ttlv.item", "Item");
    if (item_type == NULL) {
        return -1;
    }
    if (!PyType_Check(item_type)) {
        Py_DECREF(item_type);
        PyErr_SetString(PyExc_ImportError, "ttlv._speedups: ttlv.item.Item is not a class");
        return -1;
    }
    st->item_type = (PyTypeObject *)item_type;
    PyTypeObject *type = st->item_type;
    /* Exactly three object slots: no __dict__, no __weakref__, no variable part, nothing else
     * that tp_alloc would leave for an __init__ to fill. */
    if (type->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + 3 * sizeof(PyObject *)) ||
        type->tp_itemsize != 0 || type->tp_dictoffset != 0 || type->tp_weaklistoffset != 0 ||
        (type->tp_flags & Py_TPFLAGS_IS_ABSTRACT) || type->tp_alloc == NULL) {
        PyErr_SetString(PyExc_ImportError,
                        "ttlv._speedups: ttlv.item.Item is not a class of exactly three slots");
        return -1;
    }
    if (slot_offset(type, "tag", &st->off_tag) < 0 ||
        slot_offset(type, "type", &st->off_type) < 0 ||
        slot_offset(type, "value", &st->off_value) < 0) {
        return -1;
    }
    if (st->off_tag == st->off_type || st->off_tag == st->off_value ||
        st->off_type == st->off_value) {
        PyErr_SetString(PyExc_ImportError, "ttlv._speedups: Item's slots overlap");
        return -1;
    }

    PyObject *item_type_enum = import_attribute("ttlv.item", "ItemType");
    if (item_type_enum == NULL) {
        return -1;
    }
    for (int code = STRUCTURE; code <= INTERVAL; code++) {
        st->item_types[code] = PyObject_CallFunction(item_type_enum, "i", code);
        if (st->item_types[code] == NULL) {
            Py_DECREF(item_type_enum);
            return -1;
        }
    }
    Py_DECREF(item_type_enum);

    if ((st->decode_error = import_attribute("ttlv.errors", "DecodeError")) == NULL ||
        (st->too_many_items = import_attribute("ttlv.errors", "TooManyItems")) == NULL ||
        (st->nesting_too_deep = import_attribute("ttlv.errors", "NestingTooDeep")) == NULL) {
        return -1;
    }
    if ((st->str_max_items = PyUnicode_InternFromString("max_items")) == NULL ||
        (st->str_max_depth = PyUnicode_InternFromString("max_depth")) == NULL) {
        return -1;
    }
    return 0;
}

static int
speedups_traverse(PyObject *module, visitproc visit, void *arg)
{
    speedups_state *st = get_state(module);
    if (st == NULL) {
        return 0;
    }
    Py_VISIT(st->item_type);
    for (int code = 0; code <= INTERVAL; code++) {
        Py_VISIT(st->item_types[code]);
    }
    Py_VISIT(st->decode_error);
    Py_VISIT(st->too_many_items);
    Py_VISIT(st->nesting_too_deep);
    return 0;
}

static int
speedups_clear(PyObject *module)
{
    speedups_state *st = get_state(module);
    if (st == NULL) {
        return 0;
    }
    Py_CLEAR(st->item_type);
    for (int code = 0; code <= INTERVAL; code++) {
        Py_CLEAR(st->item_types[code]);
    }
    Py_CLEAR(st->decode_error);
    Py_CLEAR(st->too_many_items);
    Py_CLEAR(st->nesting_too_deep);
    Py_CLEAR(st->str_max_items);
    Py_CLEAR(st->str_max_depth);
    for (unsigned i = 0; i < TAG_CACHE_SIZE; i++) {
        Py_CLEAR(st->tags[i]);
    }
    return 0;
}

static void
speedups_free(void *module)
{
    speedups_clear((PyObject *)module);
}

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, (void *)speedups_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ttlv._speedups",
    .m_doc = "The TTLV decode loop of ttlv.codec in C (optional; see ttlv.codec).",
    .m_size = sizeof(speedups_state),
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
    .m_traverse = speedups_traverse,
    .m_clear = speedups_clear,
    .m_free = speedups_free,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
