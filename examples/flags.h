/*
 * flags.h - a small table-driven command-line parser for the examples.
 *
 * Each program describes its flags once, in a table; parsing, --help and error
 * messages all come from that table, so adding a flag is adding one line:
 *
 *   const flag_spec specs[] = {
 *       FLAG_INT("n_epochs", &o.n_epochs, 1, INT_MAX, "a positive integer", "number of epochs of training"),
 *       FLAG_DOUBLE("lr", &o.lr, 0.0, HUGE_VAL, FLAG_LO_OPEN, "a positive number", "adam: learning rate"),
 *       FLAG_STRING("out", &o.out, "DIR", "where images/ and the weights go"),
 *   };
 *   int r = flags_parse("prog", "What prog does.", specs, n_specs, argc, argv);
 *   if (r == FLAGS_HELP) return 0;
 *   if (r) return 2;
 *
 * The variables hold the defaults before parsing; --help prints them. The `expect`
 * text ("a positive integer") completes the error message for a bad value.
 *
 * Accepted forms: --name value and --name=value; -h/--help. Parsing is strict: an
 * unknown flag, a missing value, a value that is not entirely a number, a number out
 * of range or an overflowing one is an error, reported as
 *   "<prog>: --batch_size: 'abc' is not a positive integer"
 * on stderr. A flag given twice takes its last value, as Python's argparse does (the
 * seed's parser, so that a command line written for gan.py means the same here); every
 * value given is checked, the earlier ones too.
 */
#ifndef TINYNN_EXAMPLES_FLAGS_H
#define TINYNN_EXAMPLES_FLAGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum flag_type { FLAG_T_INT, FLAG_T_U64, FLAG_T_DOUBLE, FLAG_T_STRING, FLAG_T_CHOICE } flag_type;

/* Range ends for FLAG_T_DOUBLE excluded from the valid set. */
enum { FLAG_CLOSED = 0, FLAG_LO_OPEN = 1, FLAG_HI_OPEN = 2 };

typedef struct flag_spec {
    const char *name;            /* without the leading "--" */
    flag_type type;
    void *value;                 /* int *, uint64_t *, double *, const char ** */
    const char *meta;            /* shown in --help: "N", "X", "DIR" ... */
    const char *help;
    double lo, hi;               /* valid range (numbers), inclusive unless open */
    int open;                    /* FLAG_LO_OPEN | FLAG_HI_OPEN for doubles */
    const char *expect;          /* "a positive integer": used in messages */
    const char *const *choices;  /* FLAG_T_CHOICE: NULL-terminated list */
} flag_spec;

#define FLAG_INT(nm, ptr, min, max, exp, hlp) \
    {.name = nm, .type = FLAG_T_INT, .value = (ptr), .meta = "N", .help = hlp, .lo = (min), .hi = (max), .expect = exp}
#define FLAG_U64(nm, ptr, exp, hlp) \
    {.name = nm, .type = FLAG_T_U64, .value = (ptr), .meta = "N", .help = hlp, .expect = exp}
#define FLAG_DOUBLE(nm, ptr, min, max, opn, exp, hlp) \
    {.name = nm, .type = FLAG_T_DOUBLE, .value = (ptr), .meta = "X", .help = hlp, .lo = (min), .hi = (max), .open = (opn), .expect = exp}
#define FLAG_STRING(nm, ptr, mt, hlp) \
    {.name = nm, .type = FLAG_T_STRING, .value = (ptr), .meta = mt, .help = hlp, .expect = "a non-empty value"}
#define FLAG_CHOICE(nm, ptr, list, mt, hlp) \
    {.name = nm, .type = FLAG_T_CHOICE, .value = (ptr), .meta = mt, .help = hlp, .choices = (list)}

enum { FLAGS_OK = 0, FLAGS_HELP = 1, FLAGS_ERROR = 2 };

/* Parse argv[1..argc) into the table's variables (which hold the defaults on entry).
 * Returns FLAGS_OK, FLAGS_HELP (usage printed on stdout) or FLAGS_ERROR (message on
 * stderr; exit with status 2). */
int flags_parse(const char *prog, const char *summary, const flag_spec *specs, int n, int argc, char **argv);

/* The same, also recording which flags the command line set: given[i] is true when
 * specs[i] appeared (given may be NULL; it is cleared first). Programs that take
 * defaults from elsewhere (mnist_gan --resume) use it to tell an explicit value from a
 * default. */
int flags_parse_given(const char *prog, const char *summary, const flag_spec *specs, int n, int argc, char **argv,
                      bool *given);

/* The flag called `name`, or NULL. */
const flag_spec *flags_find(const flag_spec *specs, int n, const char *name);

/* Set one flag from text exactly as the command line would (same checks, same message
 * on stderr). Returns FLAGS_OK or FLAGS_ERROR. */
int flags_set(const char *prog, const flag_spec *s, const char *text);

/* Parse text as flag s would and tell whether it equals s's current value (numbers by
 * value: "2e-4" equals 0.0002). Returns FLAGS_ERROR (with the message) if text is not
 * a valid value. */
int flags_equal(const char *prog, const flag_spec *s, const char *text, bool *equal);

/* A flag's current value as text that flags_set reads back to the same value: "%d",
 * the shortest exact double (flags_format_double), the string itself ("" if unset). */
void flags_format_value(char *buf, size_t len, const flag_spec *s);

/* Every flag as Python's argparse Namespace prints it, sorted by name:
 * "Namespace(b1=0.5, ..., data='x', resume=None, seed=0)" (strings quoted, unset ones
 * None), followed by a newline. */
void flags_print_namespace(FILE *f, const flag_spec *specs, int n);

/* Usage text: summary, then one line per flag with its current (default) value. */
void flags_usage(FILE *f, const char *prog, const char *summary, const flag_spec *specs, int n);

/* The shortest decimal text that reads back as the same double, as Python's repr()
 * writes floats ("0.0002", "1e-05", "100.0"). */
void flags_format_double(char *buf, size_t len, double v);

/* For a FILE flag naming an output: whether path exists but is not a regular file (a
 * folder, a device, a FIFO), which the library's atomic writes refuse to replace. Check
 * it before any work, so that the run is refused up front. */
bool flags_exists_not_regular(const char *path);
/* Whether path is a file this process may not write (chmod a-w), which the library's
 * saves refuse to replace: checked up front too, rather than after the training. */
bool flags_write_protected(const char *path);
/* Called first in each program's main: a file-size limit makes writes fail (reported,
 * status 1) rather than ending the program with SIGXFSZ. */
void flags_program_start(void);
/* Around an output file's write, in a program without signal handling of its own
 * (mnist_gan has its own): flags_writing(true) before the save, flags_writing(false)
 * after it, whether it succeeded or not. A SIGINT, SIGTERM or SIGHUP arriving in between
 * ends the program as soon as the write is over, with that signal's default action,
 * instead of halfway through, so that no temporary file is left beside the output (the
 * old file stays whole either way); a second such signal ends it at once, should a write
 * hang. Signals ignored at the start (nohup) stay ignored. Testing hook: with
 * TINYNN_DEBUG_SIGNAL_IN_WRITE=INT, TERM or HUP (or INT2, TERM2, HUP2 for two of them)
 * the process sends itself that signal as the write begins. */
void flags_writing(bool on);
/* status, or 1 with a message if a program whose result goes to standard output could
 * not write it all (a full disk, /dev/full, a closed stdout). */
int flags_finish_stdout(const char *prog, int status);
/* For a FILE flag naming an output: prove before any work that it can be written (it is
 * not a folder or device, and a file can be created in its folder, where the atomic
 * writer puts its temporary file). 0, or -1 after printing "<prog>: --<flag> <path>: ..."
 * on stderr. */
int flags_check_output(const char *prog, const char *flag, const char *path);
/* a and b name the same file: the same device and inode if both exist, else (two
 * outputs not written yet) the same name in the same folder, the folders compared by
 * device and inode ("a.png" and "./a.png", "d/x" and "d//x"). */
bool flags_same_file(const char *a, const char *b);
/* The machine's physical memory in bytes (sysconf), 0 if it cannot be told. The example
 * programs refuse, before reserving it, what cannot fit: Linux overcommits, so malloc
 * grants such a request and the OOM killer ends the process when it is filled. */
double flags_memory_bytes(void);
/* For a FILE flag naming an input: NULL if path names something to read - a regular
 * file, or when `regular` is false also a pipe or a device -, else why not ("No such
 * file or directory", "a folder, not a file", "not a regular file", "Permission
 * denied"). Check it before loading: a file that is missing or cannot be read is a bad
 * flag value (exit status 2), while one whose contents turn out to be damaged is an
 * error (status 1). */
const char *flags_input_problem(const char *path, bool regular);
/* The data folder: flag_value (the --data flag) when not NULL, else $TINYNN_DATA when
 * set and non-empty, else default_dir. *from says which, for messages ("--data",
 * "TINYNN_DATA", "the bundled data folder"). */
const char *flags_data_dir(const char *flag_value, const char *default_dir, const char **from);
/* A data file in the folder `dir` (named in messages as `from` and dir: "--data
 * /x"): <dir>/<name>.gz, else <dir>/<name>, into path; the one found must be readable
 * (flags_input_problem). Returns 0, or -1 with a message in err: the folder's problem,
 * the file's, or "holds neither <name>.gz nor <name>". */
int flags_find_data_file(const char *dir, const char *from, const char *name, char *path, size_t len, char *err,
                         size_t errlen);

#endif
