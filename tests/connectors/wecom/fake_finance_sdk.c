/* A fake of WeCom's Finance SDK (libWeWorkFinanceSdk_C.so) with the prototypes of WeWorkFinanceSdk_C.h, compiled by
 * the tests. It serves what the test put in $FAKE_WEWORK_DIR:
 *   chatdata.jsonl   one archive entry a line, each beginning {"seq":N, (seq, msgid, publickey_ver,
 *                    encrypt_random_key, encrypt_chat_msg as GetChatData documents them);
 *   fail_next        an error code GetChatData answers once (then the file is removed);
 *   media/<fileid>   the bytes GetMediaData serves, in chunks continued by outindexbuf;
 *   calls.log        appended: one line per GetChatData call ("seq limit").
 * A wrong corp id or secret (not $FAKE_WEWORK_CORP / $FAKE_WEWORK_SECRET) gets WeCom's JSON refusal. The message
 * "encryption" is hex(("OK:" + plaintext) XOR random key): DecryptData with another key answers 10006. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct WeWorkFinanceSdk_t { char corp[128]; char secret[256]; } WeWorkFinanceSdk_t;
typedef struct Slice_t { char* buf; int len; } Slice_t;
typedef struct MediaData { char* outindexbuf; int out_len; char* data; int data_len; int is_finish; } MediaData_t;

#define CHUNK 65536

static const char* dir(void) { const char* d = getenv("FAKE_WEWORK_DIR"); return d ? d : "."; }
static void path(char* out, size_t n, const char* name) { snprintf(out, n, "%s/%s", dir(), name); }
static void set_slice(Slice_t* s, const char* text, int len) {
    free(s->buf); s->buf = malloc(len + 1); memcpy(s->buf, text, len); s->buf[len] = 0; s->len = len;
}

WeWorkFinanceSdk_t* NewSdk(void) { return calloc(1, sizeof(WeWorkFinanceSdk_t)); }
void DestroySdk(WeWorkFinanceSdk_t* sdk) { free(sdk); }
Slice_t* NewSlice(void) { return calloc(1, sizeof(Slice_t)); }
void FreeSlice(Slice_t* s) { if (s) { free(s->buf); free(s); } }
char* GetContentFromSlice(Slice_t* s) { return s->buf; }
int GetSliceLen(Slice_t* s) { return s->len; }
MediaData_t* NewMediaData(void) { return calloc(1, sizeof(MediaData_t)); }
void FreeMediaData(MediaData_t* m) { if (m) { free(m->outindexbuf); free(m->data); free(m); } }
char* GetOutIndexBuf(MediaData_t* m) { return m->outindexbuf; }
char* GetData(MediaData_t* m) { return m->data; }
int GetIndexLen(MediaData_t* m) { return m->out_len; }
int GetDataLen(MediaData_t* m) { return m->data_len; }
int IsMediaDataFinish(MediaData_t* m) { return m->is_finish; }

int Init(WeWorkFinanceSdk_t* sdk, const char* corpid, const char* secret) {
    if (!sdk || !corpid || !secret || !*corpid || !*secret) return 10000;
    snprintf(sdk->corp, sizeof sdk->corp, "%s", corpid);
    snprintf(sdk->secret, sizeof sdk->secret, "%s", secret);
    return 0;
}

int GetChatData(WeWorkFinanceSdk_t* sdk, unsigned long long seq, unsigned int limit, const char* proxy,
                const char* passwd, int timeout, Slice_t* out) {
    char p[4096];
    (void)proxy; (void)passwd; (void)timeout;
    if (limit == 0 || limit > 1000) return 10000;
    path(p, sizeof p, "calls.log");
    FILE* log = fopen(p, "a");
    if (log) { fprintf(log, "%llu %u\n", seq, limit); fclose(log); }
    path(p, sizeof p, "fail_next");
    FILE* fail = fopen(p, "r");
    if (fail) { int code = 0; if (fscanf(fail, "%d", &code) != 1) code = 10003; fclose(fail); unlink(p); return code; }
    const char* corp = getenv("FAKE_WEWORK_CORP"); const char* secret = getenv("FAKE_WEWORK_SECRET");
    if ((corp && strcmp(corp, sdk->corp)) || (secret && strcmp(secret, sdk->secret))) {
        const char* refusal = "{\"errcode\":40001,\"errmsg\":\"invalid secret\",\"chatdata\":[]}";
        set_slice(out, refusal, (int)strlen(refusal));
        return 0;
    }
    size_t cap = 1 << 16, len = 0;
    char* buf = malloc(cap);
    len += (size_t)sprintf(buf, "{\"errcode\":0,\"errmsg\":\"ok\",\"chatdata\":[");
    path(p, sizeof p, "chatdata.jsonl");
    FILE* f = fopen(p, "r");
    char* line = NULL; size_t n = 0; ssize_t got; unsigned int count = 0;
    while (f && count < limit && (got = getline(&line, &n, f)) > 0) {
        unsigned long long s = 0;
        if (sscanf(line, "{\"seq\":%llu", &s) != 1 || s <= seq) continue;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (len + (size_t)got + 8 > cap) { cap = (len + (size_t)got) * 2 + 64; buf = realloc(buf, cap); }
        if (count++) buf[len++] = ',';
        memcpy(buf + len, line, (size_t)got); len += (size_t)got;
    }
    free(line);
    if (f) fclose(f);
    len += (size_t)sprintf(buf + len, "]}");
    set_slice(out, buf, (int)len);
    free(buf);
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int DecryptData(const char* key, const char* msg, Slice_t* out) {
    size_t klen = key ? strlen(key) : 0, mlen = msg ? strlen(msg) : 0;
    if (!klen || !mlen || mlen % 2) return 10008;
    size_t n = mlen / 2;
    char* plain = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(msg[2 * i]), lo = hexval(msg[2 * i + 1]);
        if (hi < 0 || lo < 0) { free(plain); return 10008; }
        plain[i] = (char)(((hi << 4) | lo) ^ key[i % klen]);
    }
    plain[n] = 0;
    if (n < 3 || memcmp(plain, "OK:", 3)) { free(plain); return 10006; }
    set_slice(out, plain + 3, (int)(n - 3));
    free(plain);
    return 0;
}

int GetMediaData(WeWorkFinanceSdk_t* sdk, const char* indexbuf, const char* fileid, const char* proxy,
                 const char* passwd, int timeout, MediaData_t* m) {
    char p[4096], name[1024];
    (void)sdk; (void)proxy; (void)passwd; (void)timeout;
    if (!fileid || !*fileid || strchr(fileid, '/')) return 10005;
    snprintf(name, sizeof name, "media/%s", fileid);
    path(p, sizeof p, name);
    FILE* f = fopen(p, "rb");
    if (!f) return 10005;
    long offset = (indexbuf && *indexbuf) ? atol(indexbuf) : 0;
    fseek(f, 0, SEEK_END); long size = ftell(f); fseek(f, offset, SEEK_SET);
    long want = size - offset < CHUNK ? size - offset : CHUNK;
    free(m->data); m->data = malloc(want > 0 ? want : 1);
    m->data_len = want > 0 ? (int)fread(m->data, 1, (size_t)want, f) : 0;
    fclose(f);
    char next[32]; snprintf(next, sizeof next, "%ld", offset + m->data_len);
    free(m->outindexbuf); m->outindexbuf = strdup(next); m->out_len = (int)strlen(next);
    m->is_finish = offset + m->data_len >= size;
    return 0;
}
