//go:build amd64 && !purego

#include "textflag.h"

// func clampAddAVX2(v []float32, b, lo, hi float32)
// v[i] = min(max(v[i]+b, lo), hi)
TEXT ·clampAddAVX2(SB), NOSPLIT, $0-36
	MOVQ         v_base+0(FP), DI
	MOVQ         v_len+8(FP), CX
	VBROADCASTSS b+24(FP), Y0
	VBROADCASTSS lo+28(FP), Y1
	VBROADCASTSS hi+32(FP), Y2

loop32:
	CMPQ    CX, $32
	JL      loop8
	VADDPS  (DI), Y0, Y3
	VADDPS  32(DI), Y0, Y4
	VADDPS  64(DI), Y0, Y5
	VADDPS  96(DI), Y0, Y6
	VMAXPS  Y1, Y3, Y3
	VMAXPS  Y1, Y4, Y4
	VMAXPS  Y1, Y5, Y5
	VMAXPS  Y1, Y6, Y6
	VMINPS  Y2, Y3, Y3
	VMINPS  Y2, Y4, Y4
	VMINPS  Y2, Y5, Y5
	VMINPS  Y2, Y6, Y6
	VMOVUPS Y3, (DI)
	VMOVUPS Y4, 32(DI)
	VMOVUPS Y5, 64(DI)
	VMOVUPS Y6, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     loop32

loop8:
	CMPQ    CX, $8
	JL      tail
	VADDPS  (DI), Y0, Y3
	VMAXPS  Y1, Y3, Y3
	VMINPS  Y2, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop8

tail:
	CMPQ   CX, $0
	JE     done
	VMOVSS (DI), X3
	VADDSS X0, X3, X3
	VMAXSS X1, X3, X3
	VMINSS X2, X3, X3
	VMOVSS X3, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    tail

done:
	VZEROUPPER
	RET

// func clampSumAVX2(dst, x, y []float32, lo, hi float32)
// dst[i] = min(max(x[i]+y[i], lo), hi) for i < len(dst)
TEXT ·clampSumAVX2(SB), NOSPLIT, $0-80
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	MOVQ         y_base+48(FP), DX
	VBROADCASTSS lo+72(FP), Y1
	VBROADCASTSS hi+76(FP), Y2

sloop16:
	CMPQ    CX, $16
	JL      sloop8
	VMOVUPS (SI), Y3
	VMOVUPS 32(SI), Y4
	VADDPS  (DX), Y3, Y3
	VADDPS  32(DX), Y4, Y4
	VMAXPS  Y1, Y3, Y3
	VMAXPS  Y1, Y4, Y4
	VMINPS  Y2, Y3, Y3
	VMINPS  Y2, Y4, Y4
	VMOVUPS Y3, (DI)
	VMOVUPS Y4, 32(DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	ADDQ    $64, DX
	SUBQ    $16, CX
	JMP     sloop16

sloop8:
	CMPQ    CX, $8
	JL      stail
	VMOVUPS (SI), Y3
	VADDPS  (DX), Y3, Y3
	VMAXPS  Y1, Y3, Y3
	VMINPS  Y2, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     sloop8

stail:
	CMPQ   CX, $0
	JE     sdone
	VMOVSS (SI), X3
	VADDSS (DX), X3, X3
	VMAXSS X1, X3, X3
	VMINSS X2, X3, X3
	VMOVSS X3, (DI)
	ADDQ   $4, DI
	ADDQ   $4, SI
	ADDQ   $4, DX
	DECQ   CX
	JMP    stail

sdone:
	VZEROUPPER
	RET

// func axpyAVX2(d, s []float32, w float32)
// d[i] += w * s[i] for i < len(d) (len(s) >= len(d))
TEXT ·axpyAVX2(SB), NOSPLIT, $0-52
	MOVQ         d_base+0(FP), DI
	MOVQ         d_len+8(FP), CX
	MOVQ         s_base+24(FP), SI
	VBROADCASTSS w+48(FP), Y0

axpy16:
	CMPQ        CX, $16
	JL          axpy8
	VMOVUPS     (DI), Y1
	VMOVUPS     32(DI), Y2
	VFMADD231PS (SI), Y0, Y1
	VFMADD231PS 32(SI), Y0, Y2
	VMOVUPS     Y1, (DI)
	VMOVUPS     Y2, 32(DI)
	ADDQ        $64, DI
	ADDQ        $64, SI
	SUBQ        $16, CX
	JMP         axpy16

axpy8:
	CMPQ        CX, $8
	JL          axpytail
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	SUBQ        $8, CX

axpytail:
	CMPQ        CX, $0
	JE          axpydone
	VMOVSS      (DI), X1
	VFMADD231SS (SI), X0, X1
	VMOVSS      X1, (DI)
	ADDQ        $4, DI
	ADDQ        $4, SI
	DECQ        CX
	JMP         axpytail

axpydone:
	VZEROUPPER
	RET

// func axpy2AVX2(d, s []float32, w float32)
// d[i] += w * s[2*i] for i < len(d) (len(s) >= 2*len(d)-1)
TEXT ·axpy2AVX2(SB), NOSPLIT, $0-52
	MOVQ         d_base+0(FP), DI
	MOVQ         d_len+8(FP), CX
	MOVQ         s_base+24(FP), SI
	MOVQ         s_len+32(FP), DX
	VBROADCASTSS w+48(FP), Y0

axpy2v:
	// A vector step reads s[2i : 2i+16]: needs 8 outputs and 16 inputs.
	CMPQ        CX, $8
	JL          axpy2tail
	CMPQ        DX, $16
	JL          axpy2tail
	VMOVUPS     (SI), Y1
	VMOVUPS     32(SI), Y2
	VSHUFPS     $0x88, Y2, Y1, Y3 // s0 s2 t0 t2 | s4 s6 t4 t6
	VPERMPD     $0xD8, Y3, Y3     // s0 s2 s4 s6 t0 t2 t4 t6
	VMOVUPS     (DI), Y4
	VFMADD231PS Y3, Y0, Y4
	VMOVUPS     Y4, (DI)
	ADDQ        $32, DI
	ADDQ        $64, SI
	SUBQ        $8, CX
	SUBQ        $16, DX
	JMP         axpy2v

axpy2tail:
	CMPQ        CX, $0
	JE          axpy2done
	VMOVSS      (DI), X1
	VFMADD231SS (SI), X0, X1
	VMOVSS      X1, (DI)
	ADDQ        $4, DI
	ADDQ        $8, SI
	DECQ        CX
	JMP         axpy2tail

axpy2done:
	VZEROUPPER
	RET

// func dw3x3AVX2(out, r0, r1, r2 []float32, w *[9]float32, bias, lo, hi float32)
// out[i] = min(max(bias + sum_k sum_j w[3k+j]*rk[i+j], lo), hi) for
// i < len(out) (len(rk) >= len(out)+2): one output row of a 3x3 stride-1
// depthwise convolution from its three input rows.
TEXT ·dw3x3AVX2(SB), NOSPLIT, $0-116
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         r0_base+24(FP), SI
	MOVQ         r1_base+48(FP), R8
	MOVQ         r2_base+72(FP), R9
	MOVQ         w+96(FP), AX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	VBROADCASTSS bias+104(FP), Y9
	VBROADCASTSS lo+108(FP), Y10
	VBROADCASTSS hi+112(FP), Y11

dw8:
	CMPQ        CX, $8
	JL          dwtail
	VMOVAPS     Y9, Y12
	VFMADD231PS (SI), Y0, Y12
	VFMADD231PS 4(SI), Y1, Y12
	VFMADD231PS 8(SI), Y2, Y12
	VFMADD231PS (R8), Y3, Y12
	VFMADD231PS 4(R8), Y4, Y12
	VFMADD231PS 8(R8), Y5, Y12
	VFMADD231PS (R9), Y6, Y12
	VFMADD231PS 4(R9), Y7, Y12
	VFMADD231PS 8(R9), Y8, Y12
	VMAXPS      Y10, Y12, Y12
	VMINPS      Y11, Y12, Y12
	VMOVUPS     Y12, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	ADDQ        $32, R8
	ADDQ        $32, R9
	SUBQ        $8, CX
	JMP         dw8

dwtail:
	CMPQ        CX, $0
	JE          dwdone
	VMOVAPS     X9, X12
	VFMADD231SS (SI), X0, X12
	VFMADD231SS 4(SI), X1, X12
	VFMADD231SS 8(SI), X2, X12
	VFMADD231SS (R8), X3, X12
	VFMADD231SS 4(R8), X4, X12
	VFMADD231SS 8(R8), X5, X12
	VFMADD231SS (R9), X6, X12
	VFMADD231SS 4(R9), X7, X12
	VFMADD231SS 8(R9), X8, X12
	VMAXSS      X10, X12, X12
	VMINSS      X11, X12, X12
	VMOVSS      X12, (DI)
	ADDQ        $4, DI
	ADDQ        $4, SI
	ADDQ        $4, R8
	ADDQ        $4, R9
	DECQ        CX
	JMP         dwtail

dwdone:
	VZEROUPPER
	RET

// func dw3x3s2AVX2(out, r0, r1, r2 []float32, w *[9]float32, bias, lo, hi float32)
// out[i] = min(max(bias + sum_k sum_j w[3k+j]*rk[2i+j], lo), hi) for
// i < len(out) (len(rk) >= 2*len(out)+1): one output row of a 3x3
// stride-2 depthwise convolution from its three input rows.
TEXT ·dw3x3s2AVX2(SB), NOSPLIT, $0-116
	MOVQ         out_base+0(FP), DI
	MOVQ         out_len+8(FP), CX
	MOVQ         r0_base+24(FP), SI
	MOVQ         r0_len+32(FP), DX
	MOVQ         r1_base+48(FP), R8
	MOVQ         r2_base+72(FP), R9
	MOVQ         w+96(FP), AX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	VBROADCASTSS 16(AX), Y4
	VBROADCASTSS 20(AX), Y5
	VBROADCASTSS 24(AX), Y6
	VBROADCASTSS 28(AX), Y7
	VBROADCASTSS 32(AX), Y8
	VBROADCASTSS bias+104(FP), Y9
	VBROADCASTSS lo+108(FP), Y10
	VBROADCASTSS hi+112(FP), Y11

s2v:
	// 8 outputs read rk[2i : 2i+18]; the rows are as long as r0.
	CMPQ        CX, $8
	JL          s2tail
	CMPQ        DX, $18
	JL          s2tail
	VMOVAPS     Y9, Y12

	VMOVUPS     (SI), Y13
	VMOVUPS     32(SI), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y0, Y12
	VSHUFPS     $0xDD, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y1, Y12
	VMOVUPS     8(SI), Y13
	VMOVUPS     40(SI), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y2, Y12

	VMOVUPS     (R8), Y13
	VMOVUPS     32(R8), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y3, Y12
	VSHUFPS     $0xDD, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y4, Y12
	VMOVUPS     8(R8), Y13
	VMOVUPS     40(R8), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y5, Y12

	VMOVUPS     (R9), Y13
	VMOVUPS     32(R9), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y6, Y12
	VSHUFPS     $0xDD, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y7, Y12
	VMOVUPS     8(R9), Y13
	VMOVUPS     40(R9), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VFMADD231PS Y15, Y8, Y12

	VMAXPS      Y10, Y12, Y12
	VMINPS      Y11, Y12, Y12
	VMOVUPS     Y12, (DI)
	ADDQ        $32, DI
	ADDQ        $64, SI
	ADDQ        $64, R8
	ADDQ        $64, R9
	SUBQ        $8, CX
	SUBQ        $16, DX
	JMP         s2v

s2tail:
	CMPQ        CX, $0
	JE          s2done
	VMOVAPS     X9, X12
	VFMADD231SS (SI), X0, X12
	VFMADD231SS 4(SI), X1, X12
	VFMADD231SS 8(SI), X2, X12
	VFMADD231SS (R8), X3, X12
	VFMADD231SS 4(R8), X4, X12
	VFMADD231SS 8(R8), X5, X12
	VFMADD231SS (R9), X6, X12
	VFMADD231SS 4(R9), X7, X12
	VFMADD231SS 8(R9), X8, X12
	VMAXSS      X10, X12, X12
	VMINSS      X11, X12, X12
	VMOVSS      X12, (DI)
	ADDQ        $4, DI
	ADDQ        $8, SI
	ADDQ        $8, R8
	ADDQ        $8, R9
	DECQ        CX
	JMP         s2tail

s2done:
	VZEROUPPER
	RET

// func max3x3s2AVX2(out, r0, r1, r2 []float32)
// out[i] = max over k, j of rk[2i+j] for i < len(out) (len(rk) >=
// 2*len(out)+1, all rows as long), NaN if any of them is NaN: one output
// row of a 3x3 stride-2 max pool.
TEXT ·max3x3s2AVX2(SB), NOSPLIT, $0-96
	MOVQ out_base+0(FP), DI
	MOVQ out_len+8(FP), CX
	MOVQ r0_base+24(FP), SI
	MOVQ r0_len+32(FP), DX
	MOVQ r1_base+48(FP), R8
	MOVQ r2_base+72(FP), R9

mp8:
	CMPQ    CX, $8
	JL      mptail
	CMPQ    DX, $18
	JL      mptail
	VXORPS  Y10, Y10, Y10
	VMOVUPS     (SI), Y13
	VMOVUPS     32(SI), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMOVAPS     Y15, Y12 // the first value of every window starts the max
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VSHUFPS     $0xDD, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VMOVUPS     8(SI), Y13
	VMOVUPS     40(SI), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VMOVUPS     (R8), Y13
	VMOVUPS     32(R8), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VSHUFPS     $0xDD, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VMOVUPS     8(R8), Y13
	VMOVUPS     40(R8), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VMOVUPS     (R9), Y13
	VMOVUPS     32(R9), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VSHUFPS     $0xDD, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VMOVUPS     8(R9), Y13
	VMOVUPS     40(R9), Y14
	VSHUFPS     $0x88, Y14, Y13, Y15
	VPERMPD     $0xD8, Y15, Y15
	VMAXPS      Y15, Y12, Y12
	VCMPPS      $3, Y15, Y15, Y11
	VORPS       Y11, Y10, Y10
	VORPS   Y10, Y12, Y12 // NaN where an input was
	VMOVUPS Y12, (DI)
	ADDQ    $32, DI
	ADDQ    $64, SI
	ADDQ    $64, R8
	ADDQ    $64, R9
	SUBQ    $8, CX
	SUBQ    $16, DX
	JMP     mp8

mptail:
	CMPQ   CX, $0
	JE     mpdone
	VMOVSS (SI), X12
	VXORPS X10, X10, X10
	VMOVSS      0(SI), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      4(SI), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      8(SI), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      0(R8), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      4(R8), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      8(R8), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      0(R9), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      4(R9), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VMOVSS      8(R9), X15
	VMAXSS      X15, X12, X12
	VCMPSS      $3, X15, X15, X11
	VORPS       X11, X10, X10
	VORPS  X10, X12, X12
	VMOVSS X12, (DI)
	ADDQ   $4, DI
	ADDQ   $8, SI
	ADDQ   $8, R8
	ADDQ   $8, R9
	DECQ   CX
	JMP    mptail

mpdone:
	VZEROUPPER
	RET

// func max2x2s2AVX2(out, r0, r1 []float32)
// out[i] = max(r0[2i], r0[2i+1], r1[2i], r1[2i+1]) for i < len(out), a
// multiple of 4 (len(r0), len(r1) >= 2*len(out)), NaN if any of them is
// NaN: one output row of a 2x2 stride-2 max pool.
TEXT ·max2x2s2AVX2(SB), NOSPLIT, $0-72
	MOVQ out_base+0(FP), DI
	MOVQ out_len+8(FP), CX
	MOVQ r0_base+24(FP), SI
	MOVQ r1_base+48(FP), R8

m2x8:
	CMPQ    CX, $8
	JL      m2x4
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS (R8), Y2
	VMOVUPS 32(R8), Y3
	VMAXPS  Y2, Y0, Y4      // columns 0-7: the max of the two rows
	VCMPPS  $3, Y2, Y0, Y5  // unordered: NaN in either
	VORPS   Y5, Y4, Y4      // all ones, a NaN, where one was
	VMAXPS  Y3, Y1, Y6      // columns 8-15
	VCMPPS  $3, Y3, Y1, Y7
	VORPS   Y7, Y6, Y6
	VSHUFPS $0x88, Y6, Y4, Y0 // even columns
	VPERMPD $0xD8, Y0, Y0
	VSHUFPS $0xDD, Y6, Y4, Y1 // odd columns
	VPERMPD $0xD8, Y1, Y1
	VMAXPS  Y1, Y0, Y2
	VCMPPS  $3, Y1, Y0, Y3
	VORPS   Y3, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	ADDQ    $64, SI
	ADDQ    $64, R8
	SUBQ    $8, CX
	JMP     m2x8

m2x4:
	CMPQ    CX, $4
	JL      m2done
	VMOVUPS (SI), X0
	VMOVUPS 16(SI), X1
	VMOVUPS (R8), X2
	VMOVUPS 16(R8), X3
	VMAXPS  X2, X0, X4
	VCMPPS  $3, X2, X0, X5
	VORPS   X5, X4, X4
	VMAXPS  X3, X1, X6
	VCMPPS  $3, X3, X1, X7
	VORPS   X7, X6, X6
	VSHUFPS $0x88, X6, X4, X0
	VSHUFPS $0xDD, X6, X4, X1
	VMAXPS  X1, X0, X2
	VCMPPS  $3, X1, X0, X3
	VORPS   X3, X2, X2
	VMOVUPS X2, (DI)
	ADDQ    $16, DI
	ADDQ    $32, SI
	ADDQ    $32, R8
	SUBQ    $4, CX
	JMP     m2x4

m2done:
	VZEROUPPER
	RET
