/* lstmlm-speech-corpus: a synthetic speech corpus with exact frame labels,
 * for the frame classification experiment (the paper's Table 2). PTB
 * sentences are spoken by espeak-ng (en-us phonemes, one accent) through
 * voice files of our own (echo-free, so stop closures are exact silence:
 * docs/SPEECH.md pitfalls 1-2), each a "speaker" with its own pitch and
 * formants; validation and test speakers never speak in training. The audio
 * is resampled to 16 kHz (libsoxr), mixed with babble or white noise at a
 * random SNR and gain, and cut into 40 log-mel energies per 10 ms frame
 * (25 ms Hamming window, 512-point FFT by FFTW, HTK mel bands 20-8000 Hz),
 * normalised by the training set's statistics. Labels: each phoneme in three
 * equal parts (HMM-state-like), every pause one silence class. Output: three
 * frame datasets (docs/FORMAT.md) in a new folder. Deterministic in --seed. */
#include "lstmlm.h"
#include "rng.h"

#include <errno.h>
#include <espeak-ng/speak_lib.h>
#include <espeak-ng/espeak_ng.h>
#include <fftw3.h>
#include <getopt.h>
#include <stdarg.h>
#include <time.h>
#include <math.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SR = 16000, WIN = 400, HOP = 160, NFFT = 512, MELS = 40, MAX_PHONES = 256, BABBLE_POOL = 16 };
#define PI 3.14159265358979323846

static const char *prog = "lstmlm-speech-corpus";

/* What a failed run must not leave behind: the output folder it created
 * (and any split written into it) and its folder of voice files. */
static struct {
    const char *out;
    char vdir[64];
    int voices;
} made;

static void remove_made(void) {
    char path[4200];
    for (int k = 0; k < made.voices; k++) {
        snprintf(path, sizeof path, "%s/s%d", made.vdir, k);
        remove(path);
    }
    if (made.vdir[0]) rmdir(made.vdir);
    made.vdir[0] = '\0', made.voices = 0;
    if (made.out) {
        static const char *const splits[] = {"train", "valid", "test"};
        for (int s = 0; s < 3; s++) {
            snprintf(path, sizeof path, "%s/%s.safetensors", made.out, splits[s]);
            remove(path);
        }
        rmdir(made.out);
        made.out = NULL;
    }
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    remove_made();
    exit(1);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory");
    return q;
}

/* ------------------------------------------------------------ phonemes */

static char phones[MAX_PHONES][9];  /* phones[0] = "sil"; the rest in order of first appearance */
static int n_phones = 1;

static int is_pause(const char *p) { return p[0] == '_' || p[0] == '\0'; }
static int is_stop(const char *p) {
    static const char *const stops[] = {"p", "t", "k", "b", "d", "g", "tS", "dZ", "t#", "t2", "d#", "?"};
    for (size_t i = 0; i < sizeof stops / sizeof *stops; i++)
        if (strcmp(p, stops[i]) == 0) return 1;
    return 0;
}
static int phone_id(const char *p) {
    if (is_pause(p)) return 0;
    for (int i = 1; i < n_phones; i++)
        if (strcmp(phones[i], p) == 0) return i;
    if (n_phones == MAX_PHONES) die("more than %d phonemes", MAX_PHONES - 1);
    snprintf(phones[n_phones], sizeof phones[0], "%s", p);
    return n_phones++;
}

/* ------------------------------------------------------------ synthesis */

typedef struct {
    short *wav;
    size_t n, cap;
    size_t ev_sample[4096];
    int ev_phone[4096];
    int n_ev;
    int ev_overflow;  /* more phonemes than ev_* hold: the labels would be wrong, so the line is skipped */
} synth_buf;
static synth_buf sb;

static int on_synth(short *wav, int count, espeak_EVENT *ev) {
    if (count > 0) {
        if (sb.n + (size_t)count > sb.cap) sb.wav = xrealloc(sb.wav, (sb.cap = 2 * (sb.n + (size_t)count)) * sizeof *sb.wav);
        memcpy(sb.wav + sb.n, wav, (size_t)count * sizeof *wav);
        sb.n += (size_t)count;
    }
    for (; ev && ev->type != espeakEVENT_LIST_TERMINATED; ev++)
        if (ev->type == espeakEVENT_PHONEME && sb.n_ev == 4096) sb.ev_overflow = 1;
        else if (ev->type == espeakEVENT_PHONEME) {
            char name[9];
            memcpy(name, ev->id.string, 8);
            name[8] = '\0';
            sb.ev_sample[sb.n_ev] = (size_t)ev->sample;
            sb.ev_phone[sb.n_ev++] = phone_id(name);
        }
    return 0;
}

/* Per-sample class (at the synthesiser's rate) of the audio in sb: phoneme
 * segments run from one event to the next, split in thirds; the closure
 * (a run of exact zeros >= 5 ms) before a stop belongs to the stop. */
static int *label_samples(int rate) {
    int *lab = xrealloc(NULL, sb.n * sizeof *lab);
    for (size_t i = 0; i < sb.n; i++) lab[i] = 0;
    const size_t min_closure = (size_t)rate / 200;
    size_t start[4097];
    for (int e = 0; e < sb.n_ev; e++) start[e] = sb.ev_sample[e] < sb.n ? sb.ev_sample[e] : sb.n;
    for (int e = 0; e < sb.n_ev; e++) {
        if (is_stop(phones[sb.ev_phone[e]]) && sb.ev_phone[e] != 0) {
            size_t z = start[e];
            while (z > (e ? start[e - 1] : 0) && sb.wav[z - 1] == 0) z--;
            if (start[e] - z >= min_closure) start[e] = z;
        }
    }
    for (int e = 0; e < sb.n_ev; e++) {
        const size_t s = start[e], end = e + 1 < sb.n_ev ? start[e + 1] : sb.n;
        const int p = sb.ev_phone[e];
        for (size_t i = s; i < end && i < sb.n; i++)
            lab[i] = p == 0 ? 0 : 1 + 3 * (p - 1) + (int)((i - s) * 3 / (end - s));
    }
    return lab;
}

/* ------------------------------------------------------------ speakers */

typedef struct {
    char path[96];
    int pitch, range, rate_lo, rate_hi;
} speaker;

/* An en-us voice with its own pitch and formants; no echo, no variant file. */
static void write_voice(const char *dir, int id, lm_rng *r, speaker *s) {
    snprintf(s->path, sizeof s->path, "%s/s%d", dir, id);
    FILE *f = fopen(s->path, "w");
    if (!f) die("%s: %s", s->path, strerror(errno));
    const int female = lm_rng_uniform(r) < 0.5f;
    const int base = female ? 150 + (int)(60 * lm_rng_uniform(r)) : 80 + (int)(50 * lm_rng_uniform(r));
    fprintf(f, "name speaker%d\nlanguage en-us 2\nlanguage en 3\ngender %s\nphonemes en-us\ndictrules 3 6\n"
               "stressLength 140 120 190 170 0 0 255 300\nstressAmp 17 16 19 19 19 19 21 19\n"
               "replace 03 I i\nreplace 03 I2 i\npitch %d %d\necho 0 0\nflutter %d\nroughness %d\nbreath %d\n",
            id, female ? "female" : "male", base, base + 30 + (int)(60 * lm_rng_uniform(r)),
            (int)(12 * lm_rng_uniform(r)), (int)(5 * lm_rng_uniform(r)), (int)(3 * lm_rng_uniform(r)));
    const int scale = female ? 108 : 94;  /* vocal tract length: formants up or down together */
    for (int k = 0; k <= 8; k++) {
        const int freq = scale + (int)(14 * lm_rng_uniform(r)) - 7;
        fprintf(f, "formant %d %d %d %d\n", k, freq, 80 + (int)(40 * lm_rng_uniform(r)), 90 + (int)(30 * lm_rng_uniform(r)));
    }
    if (fclose(f) != 0) die("%s: write failed", s->path);
    s->pitch = 35 + (int)(30 * lm_rng_uniform(r));
    s->range = 30 + (int)(50 * lm_rng_uniform(r));
    s->rate_lo = 130 + (int)(40 * lm_rng_uniform(r));
    s->rate_hi = s->rate_lo + 40 + (int)(60 * lm_rng_uniform(r));
}

/* ------------------------------------------------------------ text */

/* PTB line to speakable text: no <unk>, N as a number, clitics re-attached. */
static size_t speakable(char *out, size_t cap, const char *line, lm_rng *r) {
    size_t n = 0;
    char word[256];
    for (const char *p = line; *p;) {
        while (*p == ' ' || *p == '\n') p++;
        if (!*p) break;
        size_t w = 0;
        while (*p && *p != ' ' && *p != '\n') {
            if (w + 1 < sizeof word) word[w++] = *p;
            p++;
        }
        word[w] = '\0';
        if (strcmp(word, "<unk>") == 0) continue;
        char num[16];
        const char *t = word;
        if (strcmp(word, "N") == 0) snprintf(num, sizeof num, "%d", 1 + (int)(lm_rng_next(r) % 999)), t = num;
        const int clitic = word[0] == '\'' || strcmp(word, "n't") == 0;
        const size_t len = strlen(t);
        if (n + len + 2 >= cap) break;
        if (n && !clitic) out[n++] = ' ';
        memcpy(out + n, t, len);
        n += len;
    }
    out[n] = '\0';
    return n;
}

typedef struct {
    char **lines;
    size_t n;
} text_file;

static text_file read_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die("%s: %s", path, strerror(errno));
    text_file t = {0};
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        t.lines = xrealloc(t.lines, (t.n + 1) * sizeof *t.lines);
        if (!(t.lines[t.n++] = strdup(buf))) die("out of memory");
    }
    if (ferror(f)) die("%s: read error", path);
    fclose(f);
    if (t.n == 0) die("%s: empty", path);
    return t;
}

/* ------------------------------------------------------------ features */

static float mel(float hz) { return 2595.0f * log10f(1.0f + hz / 700.0f); }

typedef struct {
    float window[WIN];
    float fb[MELS][NFFT / 2 + 1];
    float *in;
    fftwf_complex *out;
    fftwf_plan plan;
} frontend;

static void frontend_init(frontend *fe) {
    for (int i = 0; i < WIN; i++) fe->window[i] = 0.54f - 0.46f * (float)cos(2 * PI * i / (WIN - 1));
    float edge[MELS + 2];
    const float lo = mel(20.0f), hi = mel(8000.0f);
    for (int m = 0; m < MELS + 2; m++) edge[m] = 700.0f * (powf(10.0f, (lo + (hi - lo) * m / (MELS + 1)) / 2595.0f) - 1.0f);
    for (int m = 0; m < MELS; m++)
        for (int k = 0; k <= NFFT / 2; k++) {
            const float f = (float)k * SR / NFFT;
            float w = 0;
            if (f > edge[m] && f <= edge[m + 1]) w = (f - edge[m]) / (edge[m + 1] - edge[m]);
            else if (f > edge[m + 1] && f < edge[m + 2]) w = (edge[m + 2] - f) / (edge[m + 2] - edge[m + 1]);
            fe->fb[m][k] = w;
        }
    fe->in = fftwf_alloc_real(NFFT);
    fe->out = fftwf_alloc_complex(NFFT / 2 + 1);
    if (!fe->in || !fe->out) die("out of memory");
    fe->plan = fftwf_plan_dft_r2c_1d(NFFT, fe->in, fe->out, FFTW_ESTIMATE);
}

/* 40 log-mel energies of the frame starting at x. */
static void logmel(frontend *fe, const float *x, float *outv) {
    for (int i = 0; i < NFFT; i++) fe->in[i] = i < WIN ? x[i] * fe->window[i] : 0.0f;
    fftwf_execute(fe->plan);
    float pw[NFFT / 2 + 1];
    for (int k = 0; k <= NFFT / 2; k++) pw[k] = fe->out[k][0] * fe->out[k][0] + fe->out[k][1] * fe->out[k][1];
    for (int m = 0; m < MELS; m++) {
        double e = 0;
        for (int k = 0; k <= NFFT / 2; k++) e += fe->fb[m][k] * pw[k];
        outv[m] = (float)log(e + 1e-6);
    }
}

/* ------------------------------------------------------------ a split */

typedef struct {
    float *feat;
    int32_t *lab;
    int64_t *off;
    size_t frames, utts, cap_f, cap_u;
    double seconds;
} split;

typedef struct {
    float snr_lo, snr_hi, babble;
} noise_cfg;

/* Clean 16 kHz utterances kept for babble (a ring of the last ones spoken). */
static float *pool[BABBLE_POOL];
static size_t pool_n[BABBLE_POOL];
static int pool_fill, pool_next;

static double energy(const float *x, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) e += (double)x[i] * x[i];
    return e / (double)(n ? n : 1);
}

static void add_utterance(split *sp, frontend *fe, const speaker *spk, const char *text, lm_rng *r, int rate,
                          const noise_cfg *nc) {
    sb.n = 0, sb.n_ev = 0, sb.ev_overflow = 0;
    if (espeak_ng_SetVoiceByFile(spk->path) != ENS_OK) die("%s: espeak-ng refused the voice file", spk->path);
    espeak_SetParameter(espeakRATE, spk->rate_lo + (int)((spk->rate_hi - spk->rate_lo) * lm_rng_uniform(r)), 0);
    espeak_SetParameter(espeakPITCH, spk->pitch + (int)(10 * lm_rng_uniform(r)) - 5, 0);
    espeak_SetParameter(espeakRANGE, spk->range, 0);
    srand((unsigned)lm_rng_next(r));  /* espeak-ng's breath and roughness noise draw from rand() */
    if (espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL) != EE_OK)
        die("espeak-ng failed on: %.60s", text);
    if (sb.n < (size_t)rate / 4 || sb.n_ev == 0 || sb.ev_overflow) return;  /* nothing spoken, or too long to label */
    int *lab22 = label_samples(rate);
    /* resample to 16 kHz */
    float *x22 = xrealloc(NULL, sb.n * sizeof *x22);
    for (size_t i = 0; i < sb.n; i++) x22[i] = sb.wav[i] / 32768.0f;
    const size_t n16 = (size_t)((double)sb.n * SR / rate);
    float *x = xrealloc(NULL, (n16 + 1) * sizeof *x);
    size_t done = 0;
    soxr_error_t e = soxr_oneshot(rate, SR, 1, x22, sb.n, NULL, x, n16, &done, NULL, NULL, NULL);
    if (e) die("soxr: %s", e);
    const size_t n = done;
    /* keep the clean audio for later babble, then mix noise at a random SNR */
    const double es = energy(x, n);
    float *noise = xrealloc(NULL, n * sizeof *noise);
    memset(noise, 0, n * sizeof *noise);
    if (pool_fill >= 3 && lm_rng_uniform(r) < nc->babble) {
        for (int k = 0; k < 4; k++) {
            const int which = (int)(lm_rng_next(r) % (uint64_t)pool_fill);
            const size_t off = (size_t)(lm_rng_next(r) % (pool_n[which] + 1));
            for (size_t i = 0; i < n; i++) noise[i] += pool[which][(off + i) % pool_n[which]];
        }
    } else {
        for (size_t i = 0; i < n; i++) {  /* white: sum of uniforms, near Gaussian */
            float g = 0;
            for (int k = 0; k < 4; k++) g += lm_rng_uniform(r) - 0.5f;
            noise[i] = g;
        }
    }
    const double en = energy(noise, n), snr = nc->snr_lo + (nc->snr_hi - nc->snr_lo) * lm_rng_uniform(r);
    const float k = en > 0 ? (float)sqrt(es / (en * pow(10.0, snr / 10.0))) : 0.0f;
    const float gain = powf(10.0f, (12.0f * lm_rng_uniform(r) - 6.0f) / 20.0f);
    float *y = xrealloc(NULL, n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = gain * (x[i] + k * noise[i]);
    free(pool[pool_next]);
    pool[pool_next] = x, pool_n[pool_next] = n;
    pool_next = (pool_next + 1) % BABBLE_POOL;
    if (pool_fill < BABBLE_POOL) pool_fill++;
    /* frames: label at each window's centre */
    if (n >= WIN) {
        const size_t nf = 1 + (n - WIN) / HOP;
        if (sp->frames + nf > sp->cap_f) {
            sp->cap_f = 2 * (sp->frames + nf);
            sp->feat = xrealloc(sp->feat, sp->cap_f * MELS * sizeof *sp->feat);
            sp->lab = xrealloc(sp->lab, sp->cap_f * sizeof *sp->lab);
        }
        for (size_t f = 0; f < nf; f++) {
            logmel(fe, y + f * HOP, sp->feat + (sp->frames + f) * MELS);
            size_t c22 = (size_t)((double)(f * HOP + WIN / 2) * rate / SR);
            sp->lab[sp->frames + f] = lab22[c22 < sb.n ? c22 : sb.n - 1];
        }
        if (sp->utts + 2 > sp->cap_u) sp->off = xrealloc(sp->off, (sp->cap_u = 2 * (sp->utts + 2)) * sizeof *sp->off);
        if (sp->utts == 0) sp->off[0] = 0;
        sp->frames += nf;
        sp->off[++sp->utts] = (int64_t)sp->frames;
        sp->seconds += (double)n / SR;
    }
    free(y), free(noise), free(x22), free(lab22);
}

/* Speak lines of `text` (from a random start, in order) by the speakers
 * until the split holds `seconds` of audio. */
static void build(split *sp, const text_file *text, const speaker *spk, int n_spk, double seconds, lm_rng *r,
                  frontend *fe, int rate, const noise_cfg *nc, const char *name) {
    size_t line = lm_rng_next(r) % text->n;
    char buf[8192];
    double next_report = 600;
    size_t idle = 0;  /* lines in a row that added no audio */
    while (sp->seconds < seconds) {
        const size_t before = sp->utts;
        if (speakable(buf, sizeof buf, text->lines[line], r) > 0)
            add_utterance(sp, fe, &spk[lm_rng_next(r) % (uint64_t)n_spk], buf, r, rate, nc);
        idle = sp->utts > before ? 0 : idle + 1;
        if (idle > text->n)  /* a whole pass of the text without one utterance: it never will */
            die("%s: no line of the text gives a labelled utterance (only <unk>, blank or over-long lines?)", name);
        line = (line + 1) % text->n;
        if (sp->seconds >= next_report) {
            fprintf(stderr, "\r%s: %.0f of %.0f s", name, sp->seconds, seconds);
            next_report += 600;
        }
    }
    fprintf(stderr, "\r%s: %.0f s, %zu utterances, %zu frames\n", name, sp->seconds, sp->utts, sp->frames);
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f) {
    fprintf(f,
            "Usage: %s --out DIR [options]\n"
            "Build a synthetic speech corpus with exact frame labels (espeak-ng, en-us): DIR/train,\n"
            "valid and test .safetensors frame datasets (docs/FORMAT.md), 40 log-mel energies per\n"
            "10 ms frame, normalised by the training set; each phoneme in three classes (begin,\n"
            "middle, end) plus one silence class. Validation and test speakers are not training\n"
            "speakers. DIR must not exist; it is created.\n"
            "\n"
            "  --ptb DIR          PTB text (ptb.train/valid/test.txt; default $LSTMLM_DATA, else\n"
            "                     ../shared/data/ptb)\n"
            "  --hours H          training speech (default 5)\n"
            "  --eval-minutes M   validation and test speech each (default 30)\n"
            "  --speakers N       training speakers (default 40; 8 more each for valid and test)\n"
            "  --snr LO:HI        signal-to-noise ratio range in dB (default 0:20)\n"
            "  --babble P         share of utterances with babble rather than white noise (default 0.5)\n"
            "  --seed S           (default 1)\n"
            "  -h, --help         this help\n",
            prog);
}

int main(int argc, char **argv) {
    const char *env = getenv("LSTMLM_DATA");
    const char *out = NULL, *ptb = env && *env ? env : "../shared/data/ptb";
    double hours = 5, eval_min = 30;
    int n_train_spk = 40;
    unsigned long long seed = 1;
    noise_cfg nc = {0.0f, 20.0f, 0.5f};
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},      {"ptb", required_argument, 0, 'p'},
        {"hours", required_argument, 0, 'H'},    {"eval-minutes", required_argument, 0, 'm'},
        {"speakers", required_argument, 0, 'n'}, {"snr", required_argument, 0, 's'},
        {"babble", required_argument, 0, 'b'},   {"seed", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    int o;
    char *end;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        errno = 0;
        switch (o) {
        case 'o': out = optarg; break;
        case 'p': ptb = optarg; break;
        case 'H': hours = strtod(optarg, &end); if (*end || !(hours > 0 && hours <= 1000)) die("--hours: expected 0 < H <= 1000"); break;
        case 'm': eval_min = strtod(optarg, &end); if (*end || !(eval_min > 0 && eval_min <= 6000)) die("--eval-minutes: expected 0 < M <= 6000"); break;
        case 'n': n_train_spk = (int)strtol(optarg, &end, 10); if (*end || n_train_spk < 1 || n_train_spk > 10000) die("--speakers: expected 1..10000"); break;
        case 's':
            if (sscanf(optarg, "%f:%f", &nc.snr_lo, &nc.snr_hi) != 2 || !(nc.snr_lo <= nc.snr_hi) || nc.snr_lo < -20 || nc.snr_hi > 100)
                die("--snr: expected LO:HI in dB, -20 <= LO <= HI <= 100");
            break;
        case 'b': nc.babble = strtof(optarg, &end); if (*end || !(nc.babble >= 0 && nc.babble <= 1)) die("--babble: expected 0..1"); break;
        case 'S': seed = strtoull(optarg, &end, 10); if (*end || errno) die("--seed: expected a number"); break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s --help'.\n", prog); return 2;
        }
    }
    if (!out || optind != argc) { usage(stderr); return 2; }
    char path[4096];
    text_file txt[3];
    const char *split_name[3] = {"train", "valid", "test"};
    for (int s = 0; s < 3; s++) {
        snprintf(path, sizeof path, "%s/ptb.%s.txt", ptb, split_name[s]);
        if (access(path, R_OK) != 0)
            die("%s: %s (give the PTB folder with --ptb DIR or LSTMLM_DATA=DIR)", path, strerror(errno));
        txt[s] = read_lines(path);
    }
    if (mkdir(out, 0755) != 0) die("%s: cannot create (%s); give a folder that does not exist", out, strerror(errno));
    made.out = out;
    /* voice files: espeak-ng lower-cases the path, so a lower-case folder of our own */
    char *const vdir = made.vdir;
    lm_rng vr;
    lm_rng_seed(&vr, (uint64_t)getpid() ^ (uint64_t)time(NULL));
    for (int tries = 0;; tries++) {
        snprintf(vdir, sizeof made.vdir, "/tmp/lstmlm-voices-%08llx", (unsigned long long)(lm_rng_next(&vr) & 0xffffffffu));
        if (mkdir(vdir, 0700) == 0) break;
        if (tries > 100) { vdir[0] = '\0'; die("cannot create a folder for voice files in /tmp"); }
    }
    const int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_PHONEME_EVENTS);
    if (rate <= 0) die("espeak-ng did not initialise");
    espeak_SetSynthCallback(on_synth);
    lm_rng r;
    lm_rng_seed(&r, seed);
    const int n_spk[3] = {n_train_spk, 8, 8};
    speaker *spk[3];
    int id = 0;
    for (int s = 0; s < 3; s++) {
        spk[s] = xrealloc(NULL, (size_t)n_spk[s] * sizeof *spk[s]);
        for (int k = 0; k < n_spk[s]; k++) made.voices = id + 1, write_voice(vdir, id++, &r, &spk[s][k]);
    }
    frontend fe;
    frontend_init(&fe);
    split sp[3] = {{0}};
    const double secs[3] = {hours * 3600, eval_min * 60, eval_min * 60};
    for (int s = 0; s < 3; s++) build(&sp[s], &txt[s], spk[s], n_spk[s], secs[s], &r, &fe, rate, &nc, split_name[s]);
    const char *keep_out = made.out;
    made.out = NULL;  /* the voices go now; the folder only if writing the splits fails */
    remove_made();
    made.out = keep_out;
    /* normalise by the training set's mean and deviation */
    double mean[MELS] = {0}, var[MELS] = {0};
    for (size_t f = 0; f < sp[0].frames; f++)
        for (int j = 0; j < MELS; j++) mean[j] += sp[0].feat[f * MELS + j];
    for (int j = 0; j < MELS; j++) mean[j] /= (double)sp[0].frames;
    for (size_t f = 0; f < sp[0].frames; f++)
        for (int j = 0; j < MELS; j++) {
            const double d = sp[0].feat[f * MELS + j] - mean[j];
            var[j] += d * d;
        }
    for (int s = 0; s < 3; s++)
        for (size_t f = 0; f < sp[s].frames; f++)
            for (int j = 0; j < MELS; j++)
                sp[s].feat[f * MELS + j] = (float)((sp[s].feat[f * MELS + j] - mean[j]) / sqrt(var[j] / (double)sp[0].frames + 1e-12));
    /* class names: sil, then each phoneme's three parts */
    const int K = 1 + 3 * (n_phones - 1);
    char **names = xrealloc(NULL, (size_t)K * sizeof *names);
    names[0] = strdup("sil");
    for (int p = 1; p < n_phones; p++)
        for (int part = 0; part < 3; part++) {
            char b[32];
            snprintf(b, sizeof b, "%s_%d", phones[p], part + 1);
            names[1 + 3 * (p - 1) + part] = strdup(b);
        }
    for (int k = 0; k < K; k++) if (!names[k]) die("out of memory");
    /* the majority class of training, and its share in every split */
    size_t *count = calloc((size_t)K, sizeof *count);
    if (!count) die("out of memory");
    for (size_t f = 0; f < sp[0].frames; f++) count[sp[0].lab[f]]++;
    int major = 0;
    for (int k = 1; k < K; k++) if (count[k] > count[major]) major = k;
    char prov[1024];
    snprintf(prov, sizeof prov,
             "lstmlm-speech-corpus: espeak-ng %s en-us voices, seed %llu, %d+8+8 speakers, SNR %g:%g dB, babble %g, "
             "16 kHz, 25 ms Hamming / 10 ms hop, 512-point FFT, 40 log-mel 20-8000 Hz, normalised by train",
             espeak_Info(NULL), seed, n_train_spk, nc.snr_lo, nc.snr_hi, nc.babble);
    printf("classes: %d (%d phonemes x 3 parts + silence)\n", K, n_phones - 1);
    for (int s = 0; s < 3; s++) {
        size_t hit = 0;
        for (size_t f = 0; f < sp[s].frames; f++) hit += sp[s].lab[f] == major;
        lm_frames d = {.dim = MELS, .n_classes = K, .n_frames = sp[s].frames, .n_utts = sp[s].utts,
                       .features = sp[s].feat, .labels = sp[s].lab, .offsets = sp[s].off, .class_names = names,
                       .provenance = prov};
        snprintf(path, sizeof path, "%s/%s.safetensors", out, split_name[s]);
        lm_error err;
        if (lm_frames_save(&d, path, &err) != LM_OK) die("%s", err.msg);
        printf("%-5s %7.2f h %6zu utterances %9zu frames; majority class (%s) %.2f%% of frames\n", split_name[s],
               sp[s].seconds / 3600, sp[s].utts, sp[s].frames, names[major], 100.0 * (double)hit / (double)sp[s].frames);
    }
    made.out = NULL;  /* every split is written: the corpus stays, whatever happens next */
    if (fflush(stdout) != 0 || ferror(stdout)) die("error writing to standard output");
    espeak_Terminate();
    fftwf_destroy_plan(fe.plan);
    fftwf_free(fe.in), fftwf_free(fe.out);
    fftwf_cleanup();
    for (int k = 0; k < K; k++) free(names[k]);
    free(names), free(count), free(sb.wav);
    for (int k = 0; k < BABBLE_POOL; k++) free(pool[k]);
    for (int s = 0; s < 3; s++) {
        free(sp[s].feat), free(sp[s].lab), free(sp[s].off), free(spk[s]);
        for (size_t i = 0; i < txt[s].n; i++) free(txt[s].lines[i]);
        free(txt[s].lines);
    }
    return 0;
}
