/*
 * A small stand-in for NVIDIA's libnvidia-ml.so.1, built by the tests with gcc and loaded
 * through nvml-wrapper's `Nvml::builder().lib_path(..)`, so the node's real NVML code path
 * (nvml-wrapper's symbol loading, struct layouts, error mapping) runs without a GPU.
 *
 * Two GPUs with fixed, documented behaviour the tests assert on:
 *  - GPU 0: utilisation 90 %, energy counter +1000 mJ per read (starting at 5,000,000),
 *    accounting mode on with one recorded process (pid 4242: 12,345 ms, 77 %), confidential
 *    computing: an attestation report "FAKE-SPDM" || nonce, and a two-certificate PEM chain.
 *  - GPU 1: utilisation 40 %, energy +500 mJ per read, accounting off, no CC (NOT_SUPPORTED).
 * Only the functions the node calls are defined; nvml-wrapper resolves symbols lazily.
 *
 * Optional, for end-to-end tests whose relayer verifies the evidence: when the environment
 * variable FAKE_NVML_CC_SIGNER names a program, GPU 0's attestation engine is that program:
 * `<program> report <nonce as 64 hex digits>` prints the SPDM request || response as hex and
 * `<program> chain` prints the PEM certificate chain (tests/ has one: fake-gpu-attester).
 * Unset, GPU 0 answers with the fixed report and chain below.
 */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_UNKNOWN 999

typedef struct fake_device {
    int index;
    unsigned int util;
    unsigned long long energy;
    unsigned long long energy_step;
    int accounting;
    int cc;
} fake_device;

typedef fake_device *nvmlDevice_t;

typedef struct { unsigned int gpu; unsigned int memory; } nvmlUtilization_t;

typedef struct {
    unsigned int gpuUtilization;
    unsigned int memoryUtilization;
    unsigned long long maxMemoryUsage;
    unsigned long long time;
    unsigned long long startTime;
    unsigned int isRunning;
    unsigned int reserved[5];
} nvmlAccountingStats_t;

typedef struct {
    unsigned int isCecAttestationReportPresent;
    unsigned int attestationReportSize;
    unsigned int cecAttestationReportSize;
    unsigned char nonce[32];
    unsigned char attestationReport[8192];
    unsigned char cecAttestationReport[4096];
} nvmlConfComputeGpuAttestationReport_t;

typedef struct {
    unsigned int certChainSize;
    unsigned int attestationCertChainSize;
    unsigned char certChain[4096];
    unsigned char attestationCertChain[5120];
} nvmlConfComputeGpuCertificate_t;

static fake_device devices[2] = {
    {0, 90, 5000000ULL, 1000ULL, 1, 1},
    {1, 40, 7000000ULL, 500ULL, 0, 0},
};
/* Reference counted like the real library: every nvmlInit needs its own nvmlShutdown. */
static int initialised = 0;

/* base64("fake-leaf-device-certificate-der") and base64("fake-intermediate-der") */
static const char *CHAIN =
    "-----BEGIN CERTIFICATE-----\n"
    "ZmFrZS1sZWFmLWRldmljZS1jZXJ0aWZpY2F0ZS1kZXI=\n"
    "-----END CERTIFICATE-----\n"
    "-----BEGIN CERTIFICATE-----\n"
    "ZmFrZS1pbnRlcm1lZGlhdGUtZGVy\n"
    "-----END CERTIFICATE-----\n";

nvmlReturn_t nvmlInit_v2(void) { __sync_fetch_and_add(&initialised, 1); return NVML_SUCCESS; }
nvmlReturn_t nvmlShutdown(void) {
    if (__sync_fetch_and_add(&initialised, 0) <= 0) return NVML_ERROR_UNINITIALIZED;
    __sync_fetch_and_sub(&initialised, 1);
    return NVML_SUCCESS;
}
const char *nvmlErrorString(nvmlReturn_t r) { (void)r; return "fake NVML error"; }

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    if (!version || length < 12) return NVML_ERROR_INSUFFICIENT_SIZE;
    snprintf(version, length, "550.54.fake");
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (__sync_fetch_and_add(&initialised, 0) <= 0) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = 2;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (__sync_fetch_and_add(&initialised, 0) <= 0) return NVML_ERROR_UNINITIALIZED;
    if (index >= 2 || !device) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    if (!d || !uuid) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(uuid, length, "GPU-fa4e0000-0000-4000-8000-00000000000%d", d->index);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    if (!d || !name) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(name, length, "Fake H100 80GB HBM3 #%d", d->index);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    if (!d || !u) return NVML_ERROR_INVALID_ARGUMENT;
    u->gpu = d->util;
    u->memory = 10;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *energy) {
    if (!d || !energy) return NVML_ERROR_INVALID_ARGUMENT;
    d->energy += d->energy_step;
    *energy = d->energy;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAccountingMode(nvmlDevice_t d, int *mode) {
    if (!d || !mode) return NVML_ERROR_INVALID_ARGUMENT;
    *mode = d->accounting; /* NVML_FEATURE_ENABLED = 1 */
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAccountingPids(nvmlDevice_t d, unsigned int *count, unsigned int *pids) {
    if (!d || !count) return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->accounting) return NVML_ERROR_NOT_SUPPORTED;
    if (!pids || *count < 1) { *count = 1; return NVML_ERROR_INSUFFICIENT_SIZE; }
    pids[0] = 4242;
    *count = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAccountingStats(nvmlDevice_t d, unsigned int pid, nvmlAccountingStats_t *s) {
    if (!d || !s) return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->accounting) return NVML_ERROR_NOT_SUPPORTED;
    if (pid != 4242) return NVML_ERROR_NOT_FOUND;
    memset(s, 0, sizeof(*s));
    s->gpuUtilization = 77;
    s->memoryUtilization = 12;
    s->maxMemoryUsage = 1ULL << 30;
    s->time = 12345;
    s->startTime = 1764000000000000ULL;
    s->isRunning = 0;
    return NVML_SUCCESS;
}

/* Runs `$FAKE_NVML_CC_SIGNER <args>` and reads its output into out (at most cap bytes;
 * decoded from hex when hex is set). Returns NVML_SUCCESS, or NVML_ERROR_UNKNOWN when the
 * program fails or prints too much. */
static nvmlReturn_t run_signer(const char *signer, const char *args, unsigned char *out,
                               unsigned int cap, unsigned int *len, int hex) {
    char cmd[4096];
    if (snprintf(cmd, sizeof cmd, "'%s' %s", signer, args) >= (int)sizeof cmd) return NVML_ERROR_UNKNOWN;
    FILE *p = popen(cmd, "r");
    if (!p) return NVML_ERROR_UNKNOWN;
    unsigned int n = 0;
    int hi = -1, c, bad = 0;
    while ((c = fgetc(p)) != EOF) {
        if (!hex) {
            if (n >= cap) { bad = 1; break; }
            out[n++] = (unsigned char)c;
            continue;
        }
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (v < 0) continue; /* whitespace */
        if (hi < 0) { hi = v; continue; }
        if (n >= cap) { bad = 1; break; }
        out[n++] = (unsigned char)(hi << 4 | v);
        hi = -1;
    }
    if (pclose(p) != 0 || bad || hi >= 0) return NVML_ERROR_UNKNOWN;
    *len = n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(nvmlDevice_t d, nvmlConfComputeGpuAttestationReport_t *r) {
    if (!d || !r) return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->cc) return NVML_ERROR_NOT_SUPPORTED;
    const char *signer = getenv("FAKE_NVML_CC_SIGNER");
    if (signer && *signer) {
        char args[80] = "report ";
        for (int i = 0; i < 32; i++) snprintf(args + 7 + 2 * i, 3, "%02x", r->nonce[i]);
        r->isCecAttestationReportPresent = 0;
        r->cecAttestationReportSize = 0;
        return run_signer(signer, args, r->attestationReport, sizeof r->attestationReport,
                          &r->attestationReportSize, 1);
    }
    memcpy(r->attestationReport, "FAKE-SPDM", 9);
    memcpy(r->attestationReport + 9, r->nonce, 32);
    r->attestationReportSize = 9 + 32;
    r->isCecAttestationReportPresent = 0;
    r->cecAttestationReportSize = 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(nvmlDevice_t d, nvmlConfComputeGpuCertificate_t *c) {
    if (!d || !c) return NVML_ERROR_INVALID_ARGUMENT;
    if (!d->cc) return NVML_ERROR_NOT_SUPPORTED;
    const char *signer = getenv("FAKE_NVML_CC_SIGNER");
    if (signer && *signer) {
        c->certChainSize = 0;
        return run_signer(signer, "chain", c->attestationCertChain, sizeof c->attestationCertChain,
                          &c->attestationCertChainSize, 0);
    }
    unsigned int n = (unsigned int)strlen(CHAIN);
    memcpy(c->attestationCertChain, CHAIN, n);
    c->attestationCertChainSize = n;
    c->certChainSize = 0;
    return NVML_SUCCESS;
}
