/* The SNN input layer's two GEMMs (3200x784 binary spikes x 784x256 weights, forward and weight
 * gradient) at one OpenBLAS thread: the ceiling of a dense implementation.
 * Build and run: gcc -O2 scripts/gemm-roofline.c -o /tmp/gemm-roofline -lopenblas && /tmp/gemm-roofline */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){openblas_set_num_threads(1);int M=3200,N=256,K=784;
float*A=malloc(4*M*K),*B=malloc(4*K*N),*C=malloc(4*M*N),*D=malloc(4*K*N);
for(int i=0;i<M*K;i++)A[i]=(rand()%3==0);for(int i=0;i<K*N;i++)B[i]=rand()/(float)RAND_MAX;for(int i=0;i<M*N;i++)C[i]=rand()/(float)RAND_MAX;
for(int r=0;r<3;r++){double t=now();for(int k=0;k<20;k++)cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,A,K,B,N,0,C,N);double f=now()-t;
t=now();for(int k=0;k<20;k++)cblas_sgemm(CblasRowMajor,CblasTrans,CblasNoTrans,K,N,M,1,A,K,C,N,0,D,N);double g=now()-t;
printf("fwd %.1f GFLOP/s  dW %.1f GFLOP/s\n",20*2.0*M*N*K/f/1e9,20*2.0*M*N*K/g/1e9);}}
