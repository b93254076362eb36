/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixed test key pairs of fuzz_manifest and make_seeds (generated once with
 * `openssl genpkey`; they protect nothing). Ed25519 signatures are
 * deterministic, so seeds can carry valid signatures for their text.
 */
#ifndef M2M_FUZZ_TEST_KEYS_H
#define M2M_FUZZ_TEST_KEYS_H

static const char test_ed25519_priv[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIF0DMPffPlMLzV32F6mZy+HuZPiF8NB9uuHPzwpjIjK8\n"
    "-----END PRIVATE KEY-----\n";
static const char test_ed25519_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAwTc31XmvTmn2bPw0aiXS83jDxhPl0eklDCcvN+0E+v4=\n"
    "-----END PUBLIC KEY-----\n";
static const char test_p256_priv[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSvBXx1HxATZRHyrK\n"
    "mIcDHtb9pcCxLsP8BeP57mNveS+hRANCAAQ3nrGSRtdcXT3/rQSdhgXDFMRYjELe\n"
    "wvF+aK7TR4XydvS40h/p1Xj4Ix++kV195ynfHIYNygiTy4VJkcyh8jo2\n"
    "-----END PRIVATE KEY-----\n";
static const char test_p256_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEN56xkkbXXF09/60EnYYFwxTEWIxC\n"
    "3sLxfmiu00eF8nb0uNIf6dV4+CMfvpFdfecp3xyGDcoIk8uFSZHMofI6Ng==\n"
    "-----END PUBLIC KEY-----\n";

#endif
