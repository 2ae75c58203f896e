// OpenBLAS's CBLAS interface (Debian: libopenblas-dev installs it as <cblas.h>).
#include <cblas.h>

// The two LAPACK routines the engine uses (OpenBLAS exports LAPACK's Fortran symbols): Cholesky
// factorisation of a symmetric positive definite matrix and the solve with its factor.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info);
