/* Run folders: one owner at a time (an open-file-description lock on
 * DIR/lock, held for the owner's life and released by the kernel even after
 * SIGKILL; unlike a classic record lock it also refuses a second claim from
 * the same process, and closing another descriptor does not drop it), never
 * a second run in a folder that holds one, and run.json, which records how
 * the run started and fingerprints of its data so a resume cannot silently
 * continue on other text. */
#define _GNU_SOURCE  /* realpath, F_OFD_SETLK, O_NOFOLLOW */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME "lock"
#define INFO_NAME "run.json"
#define HEX "0123456789abcdefABCDEF"

struct lm_run {
    char *dir;
    char *file;   /* lm_run_file's buffer: dir + "/" + a short name */
    size_t file_cap;
    int lock_fd;
    int fresh;         /* claimed for a new run */
    int made_lock;     /* the claim created DIR/lock */
    size_t made_from;  /* the claim created DIR itself, and its parents from this many bytes of it; 0: it did not */
};

/* Files that make a folder a run's, whatever the kind. */
static const char *const run_files[] = {INFO_NAME, "state.safetensors", "model.safetensors", "metrics.jsonl"};

/* mkdir -p. *made_from: 0 unless this call created the last component; then
 * the length of the first component it created (the folders to remove again
 * are the path cut at each '/' from there on). */
static int make_dirs(const char *path, size_t *made_from) {
    *made_from = 0;
    char *buf = strdup(path);
    if (!buf) return 0;
    size_t n = strlen(buf), first = 0;
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';  /* "runs/x/" is "runs/x" */
    int ok = 1;
    for (char *p = buf + 1; ok && *p; p++)
        if (*p == '/' && p[-1] != '/') {
            *p = '\0';
            const int made = mkdir(buf, 0777) == 0;
            ok = made || errno == EEXIST;
            if (made && !first) first = (size_t)(p - buf);
            *p = '/';
        }
    if (ok && mkdir(buf, 0777) == 0) *made_from = first ? first : n;
    else ok = ok && errno == EEXIST;
    free(buf);
    return ok;
}

/* Remove the folders make_dirs made for dir, deepest first; each rmdir fails,
 * harmlessly, on a folder that is not empty. */
static void remove_made_dirs(const char *dir, size_t made_from) {
    char *buf = strdup(dir);
    if (!buf) return;
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    while (n >= made_from && rmdir(buf) == 0) {
        while (n > 0 && buf[n - 1] != '/') n--;  /* cut the last component */
        while (n > 0 && buf[n - 1] == '/') n--;
        buf[n] = '\0';
    }
    free(buf);
}

const char *lm_run_file(lm_run *r, const char *name) {
    const size_t need = strlen(r->dir) + strlen(name) + 2;
    if (need > r->file_cap) {  /* a longer name than the room made at the claim */
        char *p = realloc(r->file, need);
        if (!p) return NULL;
        r->file = p, r->file_cap = need;
    }
    snprintf(r->file, r->file_cap, "%s/%s", r->dir, name);
    return r->file;
}

/* Whether any of a run's files is in its folder. */
static int holds_run(lm_run *r) {
    struct stat sb;
    for (size_t i = 0; i < sizeof run_files / sizeof *run_files; i++)
        if (lstat(lm_run_file(r, run_files[i]), &sb) == 0) return 1;
    return 0;
}

void lm_run_release(lm_run *r) {
    if (!r) return;
    /* A new run that never wrote a file (its data was refused) leaves what
     * it found: the lock file it made goes while still held (a claim that
     * opened it meanwhile sees it unlinked and tries again), then the
     * folders it made. */
    if (r->lock_fd >= 0 && r->fresh && !holds_run(r)) {
        if (r->made_lock) unlink(lm_run_file(r, LOCK_NAME));
        if (r->made_from) remove_made_dirs(r->dir, r->made_from);
    }
    if (r->lock_fd >= 0) close(r->lock_fd);  /* drops the lock */
    free(r->dir), free(r->file);
    free(r);
}

lm_status lm_run_claim(lm_run **out, const char *dir, int resume, lm_error *err) {
    *out = NULL;
    const size_t len = strlen(dir);
    if (len == 0) return lm_fail(err, LM_EARG, "the run folder name is empty");
    if (len > PATH_MAX - 64) return lm_fail(err, LM_EARG, "run folder name of %zu bytes is too long (at most %d)", len,
                                            PATH_MAX - 64);
    lm_run *r = calloc(1, sizeof *r);
    if (!r) return lm_fail(err, LM_ENOMEM, "out of memory");
    r->lock_fd = -1;
    r->file_cap = len + 64;
    r->dir = strdup(dir), r->file = malloc(r->file_cap);
    lm_status st = LM_OK;
    struct stat sb;
    if (!r->dir || !r->file) { st = lm_fail(err, LM_ENOMEM, "out of memory"); goto fail; }
    /* A few tries: an owner releasing an unused new run removes its lock
     * file, maybe the folder, between our steps; the folder is free then. */
    for (int attempt = 1;; attempt++) {
        size_t made_from = 0;
        if (resume ? stat(dir, &sb) != 0 : !make_dirs(dir, &made_from)) {
            st = lm_fail(err, LM_EIO, "%s: %s: %s", dir,
                         resume ? "cannot open the run folder" : "cannot create the run folder", strerror(errno));
            goto fail;
        }
        if (made_from) r->made_from = made_from;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            st = lm_fail(err, LM_EIO, "%s is not a folder", dir);
            goto fail;
        }
        const char *lock = lm_run_file(r, LOCK_NAME);
        /* never through a link: the lock guards this folder, not a file
         * elsewhere (O_EXCL also refuses a link, dangling or not) */
        r->made_lock = (r->lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644)) >= 0;
        if (r->lock_fd < 0 && errno == EEXIST) r->lock_fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (r->lock_fd < 0) {
            if (errno == ENOENT && attempt < 4) continue;  /* removed by a releasing owner */
            st = lm_fail(err, LM_EIO, "%s: cannot create: %s", lock, strerror(errno));
            goto fail;
        }
        /* OFD locks conflict with classic record locks too, so runs of older
         * builds (F_SETLK) and of this one exclude each other */
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_pid = 0};
        if (fcntl(r->lock_fd, F_OFD_SETLK, &fl) != 0) {
            st = errno == EACCES || errno == EAGAIN
                     ? lm_fail(err, LM_EARG, "%s is in use by another lstmlm run (it holds %s)", dir, lock)
                     : lm_fail(err, LM_EIO, "%s: cannot lock: %s", lock, strerror(errno));
            goto fail;
        }
        /* the lock counts only on the file the folder still names: an owner
         * releasing an unused new run unlinks it (lm_run_release) */
        struct stat held;
        if (fstat(r->lock_fd, &held) == 0 && lstat(lock, &sb) == 0 && held.st_ino == sb.st_ino &&
            held.st_dev == sb.st_dev)
            break;
        close(r->lock_fd);
        r->lock_fd = -1, r->made_lock = 0;
        if (attempt == 4) {
            st = lm_fail(err, LM_EARG, "%s is in use by another lstmlm run (its lock file keeps changing)", dir);
            goto fail;
        }
    }
    if (!resume)
        for (size_t i = 0; i < sizeof run_files / sizeof *run_files; i++)
            if (lstat(lm_run_file(r, run_files[i]), &sb) == 0) {
                st = lm_fail(err, LM_EARG, "%s already holds a run (%s); continue it with --resume, or choose another "
                             "folder (or remove this one)", dir, run_files[i]);
                goto fail;
            }
    r->fresh = !resume;
    *out = r;
    return LM_OK;
fail:
    lm_run_release(r);
    return st;
}

/* ------------------------------------------------------------ run.json */

uint64_t lm_tokens_fingerprint(const lm_tokens *t) {
    uint64_t h = 0xcbf29ce484222325ULL;  /* FNV-1a over the ids' bytes */
    const unsigned char *b = (const unsigned char *)t->ids;
    for (size_t i = 0; i < t->n * sizeof *t->ids; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* Write text to path atomically: a unique temp file beside it, fsync, rename. */
static lm_status write_atomic(const char *path, const char *text, lm_error *err) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return lm_fail(err, LM_ENOMEM, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    lm_status st = LM_OK;
    if (fd < 0) { st = lm_fail(err, LM_EIO, "%s: cannot create: %s", tmp, strerror(errno)); goto done; }
    size_t len = strlen(text), at = 0;
    while (at < len) {
        ssize_t w = write(fd, text + at, len - at);
        if (w <= 0) break;
        at += (size_t)w;
    }
    int ok = at == len && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        st = lm_fail(err, LM_EIO, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
    }
done:
    free(tmp);
    return st;
}

lm_status lm_run_write_info(lm_run *r, const lm_run_info *info, lm_error *err) {
    json_t *j = json_pack("{s:s, s:s, s:i, s:s}", "kind", info->kind, "data", info->data, "threads", info->threads,
                          "preset", info->preset);
    json_t *splits = json_object();
    int ok = j && splits && json_object_set_new(j, "splits", splits) == 0;  /* set_new takes splits, even failing */
    if (!j) json_decref(splits);
    for (int i = 0; ok && i < info->n_splits; i++) {
        char hash[20];
        snprintf(hash, sizeof hash, "%016" PRIx64, info->splits[i].hash);
        json_t *s = json_pack("{s:s, s:I, s:s}", "path", info->splits[i].path, "words",
                              (json_int_t)info->splits[i].words, "fnv64", hash);
        ok = s && json_object_set_new(splits, info->splits[i].name, s) == 0;
    }
    json_t *flags = ok && info->n_flags > 0 ? json_object() : NULL;
    if (ok && flags) ok = json_object_set_new(j, "flags", flags) == 0;
    for (int i = 0; ok && i < info->n_flags; i++)
        ok = json_object_set_new(flags, info->flags[i].name, json_string(info->flags[i].value)) == 0;
    char *text = ok ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!text)  /* jansson refuses strings that are not UTF-8, e.g. a data path in another encoding */
        return lm_fail(err, LM_EARG, "%s: a path or name is not valid UTF-8 (or out of memory)",
                       lm_run_file(r, INFO_NAME));
    lm_status st = write_atomic(lm_run_file(r, INFO_NAME), text, err);
    free(text);
    return st;
}

/* Paths and flags of run.json are printed in messages: a control byte (a
 * terminal escape, a newline) is refused when written and when read. */
static int has_control(const char *s) {
    for (; *s; s++)
        if (lm_control_byte(*s)) return 1;
    return 0;
}

static int copy_string(char *dst, size_t cap, json_t *v) {
    const char *s = json_string_value(v);
    if (!s || strlen(s) >= cap) return 0;
    memcpy(dst, s, strlen(s) + 1);
    return 1;
}

lm_status lm_run_read_info(lm_run *r, lm_run_info *info, lm_error *err) {
    memset(info, 0, sizeof *info);
    const char *path = lm_run_file(r, INFO_NAME);
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {  /* (lm_fail keeps control bytes of the quoted text out) */
        if (json_error_code(&jerr) == json_error_cannot_open_file)
            return lm_fail(err, LM_EIO, "%s: missing or unreadable (%s)", path, jerr.text);
        return lm_fail(err, LM_EFORMAT, "%s: not valid JSON, line %d: %s", path, jerr.line, jerr.text);
    }
    const char *bad = NULL;
    json_t *th = json_object_get(j, "threads"), *kind = json_object_get(j, "kind"), *splits = json_object_get(j, "splits");
    json_t *flags = json_object_get(j, "flags");
    if (!json_is_object(j)) bad = "a JSON object";
    else if (!copy_string(info->data, sizeof info->data, json_object_get(j, "data")) || has_control(info->data))
        bad = "\"data\": the data folder";
    else if (!json_is_integer(th) || json_integer_value(th) < 1 || json_integer_value(th) > 1024)
        bad = "\"threads\": an integer in 1..1024";
    else if (kind && !copy_string(info->kind, sizeof info->kind, kind)) bad = "\"kind\": a short string";
    else if (json_object_get(j, "preset") && !copy_string(info->preset, sizeof info->preset, json_object_get(j, "preset")))
        bad = "\"preset\": a short string";
    else if (splits && !json_is_object(splits)) bad = "\"splits\": an object";
    else if (flags && (!json_is_object(flags) || json_object_size(flags) > LM_RUN_MAX_FLAGS))
        bad = "\"flags\": an object of up to 8 strings";
    if (!bad) {
        info->threads = (int)json_integer_value(th);
        if (!kind) snprintf(info->kind, sizeof info->kind, "lm");  /* run.json before kinds existed: train's */
        const char *name;
        json_t *s;
        json_object_foreach(splits, name, s) {
            lm_run_split *sp = &info->splits[info->n_splits];
            json_t *words = json_object_get(s, "words");
            const char *hash = json_string_value(json_object_get(s, "fnv64"));
            char *end = NULL;
            if (info->n_splits == LM_RUN_MAX_SPLITS || strlen(name) >= sizeof sp->name ||
                !copy_string(sp->path, sizeof sp->path, json_object_get(s, "path")) || has_control(sp->path) ||
                has_control(name) || !json_is_integer(words) ||
                json_integer_value(words) < 0 || !hash || strlen(hash) != 16 || strspn(hash, HEX) != 16 ||
                (sp->hash = strtoull(hash, &end, 16), *end)) {
                bad = "\"splits\": up to 3 objects of path, words and fnv64";
                break;
            }
            snprintf(sp->name, sizeof sp->name, "%s", name);
            sp->words = (uint64_t)json_integer_value(words);
            info->n_splits++;
        }
        json_object_foreach(flags, name, s) {
            if (bad) break;
            lm_run_flag *f = &info->flags[info->n_flags];
            if (strlen(name) >= sizeof f->name || !copy_string(f->value, sizeof f->value, s) || has_control(name) ||
                has_control(f->value)) {
                bad = "\"flags\": short names of strings without control characters";
                break;
            }
            snprintf(f->name, sizeof f->name, "%s", name);
            info->n_flags++;
        }
    }
    json_decref(j);
    if (bad) return lm_fail(err, LM_EFORMAT, "%s: expected %s", path, bad);
    return LM_OK;
}

lm_status lm_run_flag_set(lm_run_info *info, const char *name, const char *value, lm_error *err) {
    int i = 0;
    while (i < info->n_flags && strcmp(info->flags[i].name, name) != 0) i++;
    if (strlen(name) >= sizeof info->flags[0].name || strlen(value) >= sizeof info->flags[0].value)
        return lm_fail(err, LM_EARG, "flag %s: name or value too long", name);
    if (has_control(name) || has_control(value))
        return lm_fail(err, LM_EARG, "flag %s: a control character (newline, tab, escape) in its value", name);
    if (i == LM_RUN_MAX_FLAGS) return lm_fail(err, LM_EARG, "flag %s: more than %d flags", name, LM_RUN_MAX_FLAGS);
    snprintf(info->flags[i].name, sizeof info->flags[i].name, "%s", name);
    snprintf(info->flags[i].value, sizeof info->flags[i].value, "%s", value);
    if (i == info->n_flags) info->n_flags++;
    return LM_OK;
}

const char *lm_run_flag_get(const lm_run_info *info, const char *name) {
    for (int i = 0; i < info->n_flags; i++)
        if (strcmp(info->flags[i].name, name) == 0) return info->flags[i].value;
    return NULL;
}

lm_status lm_run_check_split(const lm_run_info *info, const char *name, const char *path, const lm_tokens *t,
                             lm_error *err) {
    for (int i = 0; i < info->n_splits; i++) {
        const lm_run_split *s = &info->splits[i];
        if (strcmp(s->name, name) != 0) continue;
        if (s->words == t->n && s->hash == lm_tokens_fingerprint(t)) return LM_OK;
        return lm_fail(err, LM_EDATA, "%s is not the %s text this run started with (%s: %" PRIu64 " words then, %zu "
                       "now, or other words): resuming on other data would not continue the same run", path, name,
                       s->path, s->words, t->n);
    }
    return LM_OK;  /* a run.json from before fingerprints: nothing to compare */
}

lm_status lm_run_split_set(lm_run_split *s, const char *name, const char *path, const lm_tokens *t, lm_error *err) {
    memset(s, 0, sizeof *s);
    char *abs = realpath(path, NULL);
    if (!abs) return lm_fail(err, LM_EIO, "%s: %s", path, strerror(errno));
    int ok = strlen(abs) < sizeof s->path && strlen(name) < sizeof s->name, plain = !has_control(abs);
    if (ok && plain) snprintf(s->path, sizeof s->path, "%s", abs), snprintf(s->name, sizeof s->name, "%s", name);
    free(abs);
    if (!plain) return lm_fail(err, LM_EARG, "%s: a control character (newline, tab, escape) in the path", path);
    if (!ok) return lm_fail(err, LM_EARG, "%s: path too long", path);
    s->words = t->n;
    s->hash = lm_tokens_fingerprint(t);
    return LM_OK;
}

lm_status lm_run_set_data(lm_run_info *info, const char *dir, lm_error *err) {
    char *abs = realpath(dir, NULL);
    if (!abs) return lm_fail(err, LM_EIO, "%s: %s", dir, strerror(errno));
    if (has_control(abs)) {
        free(abs);
        return lm_fail(err, LM_EARG, "%s: a control character (newline, tab, escape) in the folder's path", dir);
    }
    int ok = strlen(abs) < sizeof info->data;
    if (ok) snprintf(info->data, sizeof info->data, "%s", abs);
    free(abs);
    return ok ? LM_OK : lm_fail(err, LM_EARG, "%s: path too long", dir);
}
