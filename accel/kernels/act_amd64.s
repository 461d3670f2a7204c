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
