/*
 * winappc.h: the Windows APPC API of appc-capi.
 *
 * Written for this project from the documented interface of Microsoft Host
 * Integration Server's winappc.h (names, values, VCB field order and sizes):
 * a program written against that header ports by recompiling against this
 * one and linking libappc_capi. docs/capi.md says what each entry point does
 * here, where the facts come from, and what Linux uses in place of window
 * handles, events and completion ports.
 *
 * Layout rules (the published header's):
 *  - 32-bit Windows packs VCBs to 4 bytes; 64-bit targets use the natural
 *    alignment (so a pointer field is 8-aligned there).
 *  - "unsigned long" fields are 32 bits on every target (AP_ULONG below:
 *    Windows' LLP64 long, uint32_t elsewhere).
 *  - opcode, primary_rc, secondary_rc and what_rcvd hold the big-endian
 *    (SNA) form of the documented value on little-endian machines: every
 *    constant for them goes through APPC_FLIPI / APPC_FLIPL. Lengths,
 *    pointers, conv_id and handles are native.
 *  - Zero the whole VCB before filling it in.
 */
#ifndef APPC_C_INCLUDED
#define APPC_C_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#include <windows.h>
typedef unsigned long AP_ULONG;
/* The VCB argument: the published header types it long, which holds a
 * pointer on 32-bit Windows only; a 64-bit program passes LONG_PTR. */
#ifdef _WIN64
typedef LONG_PTR APPC_VCB;
#else
typedef long APPC_VCB;
#endif
#else /* Linux and other LP64 systems */
typedef uint32_t AP_ULONG;
typedef long APPC_VCB; /* pointer-sized on LP64 */
typedef void *HANDLE;
typedef void *HWND;
typedef void *LPOVERLAPPED;
typedef uint16_t *LPWSTR;
typedef uint16_t WORD;
typedef uint32_t DWORD;
typedef unsigned int UINT;
typedef int BOOL;
#define TRUE 1
#define FALSE 0
#define WINAPI
#define FAR
/* The blocking hook: returns non-zero to go on hooking. */
typedef BOOL (*FARPROC)(void);
/* Linux stand-ins for the Windows completion objects (docs/capi.md):
 *  - an event (WinAsyncAPPCEx's hEvent, RECEIVE_AND_POST's sema, the post
 *    verbs' handle/sema) is an eventfd descriptor cast to HANDLE
 *    (APPC_FD_HANDLE); completion adds 1 to its counter;
 *  - a window (WinAsyncAPPC's hWnd) is the write end of a pipe or a
 *    socket; completion writes one WINAPPC_MESSAGE;
 *  - a completion port (APPC_CompletionPort) is a pipe's write end too;
 *    completion writes one APPC_IOCP_PACKET. */
#define APPC_FD_HANDLE(fd) ((HANDLE)(intptr_t)(fd))
typedef struct
{
  HANDLE hAsyncTask;   /* wParam: the task handle WinAsyncAPPC returned */
  void  *vcb;          /* lParam: the VCB */
} WINAPPC_MESSAGE;
typedef struct
{
  DWORD        NumberOfBytesTransferred;
  DWORD        CompletionKey;
  LPOVERLAPPED pOverlapped;
} APPC_IOCP_PACKET;
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(_WIN64)
#pragma pack(push, 4)
#endif

/* ------------------------------------------------------------------ */
/* Byte order                                                          */
/* ------------------------------------------------------------------ */
#ifdef NON_INTEL_BYTE_ORDER
#define APPC_FLIPI(x) ((unsigned short)(x))
#define APPC_FLIPL(x) ((AP_ULONG)(x))
#else
#define APPC_FLIPI(x) ((unsigned short)((((unsigned short)(x) & 0xFFu) << 8) | \
                                        (((unsigned short)(x) >> 8) & 0xFFu)))
#define APPC_FLIPL(x) ((AP_ULONG)((((AP_ULONG)(x) & 0xFFu) << 24) |             \
                                  (((AP_ULONG)(x) & 0xFF00u) << 8) |            \
                                  (((AP_ULONG)(x) >> 8) & 0xFF00u) |            \
                                  (((AP_ULONG)(x) >> 24) & 0xFFu)))
#endif

/* ------------------------------------------------------------------ */
/* Opcodes (basic and mapped verbs share them; opext tells them apart) */
/* ------------------------------------------------------------------ */
#define AP_TP_STARTED              APPC_FLIPI(0x1400)
#define AP_TP_STARTED_EX           APPC_FLIPI(0x9400)
#define AP_RECEIVE_ALLOCATE        APPC_FLIPI(0x1600)
#define AP_TP_ENDED                APPC_FLIPI(0x1300)
#define AP_DEACTIVATE_SESSION      APPC_FLIPI(0x2E00)
#define AP_ACTIVATE_SESSION        APPC_FLIPI(0x1410)
#define AP_RECEIVE_ALLOCATE_X      APPC_FLIPI(0x9600)
#define AP_RECEIVE_ALLOCATE_EX     APPC_FLIPI(0xF103)
#define AP_RECEIVE_ALLOCATE_EX_END APPC_FLIPI(0xF104)
#define AP_CNOS                    APPC_FLIPI(0x1500)
#define AP_DISPLAY                 APPC_FLIPI(0x1B00)

#define AP_M_ALLOCATE              APPC_FLIPI(0x0100)
#define AP_M_CONFIRM               APPC_FLIPI(0x0300)
#define AP_M_CONFIRMED             APPC_FLIPI(0x0400)
#define AP_M_DEALLOCATE            APPC_FLIPI(0x0500)
#define AP_M_FLUSH                 APPC_FLIPI(0x0600)
#define AP_M_GET_ATTRIBUTES        APPC_FLIPI(0x0700)
#define AP_M_PREPARE_TO_RECEIVE    APPC_FLIPI(0x0A00)
#define AP_M_RECEIVE_AND_WAIT      APPC_FLIPI(0x0B00)
#define AP_M_RECEIVE_IMMEDIATE     APPC_FLIPI(0x0C00)
#define AP_M_RECEIVE_AND_POST      APPC_FLIPI(0x0D00)
#define AP_M_REQUEST_TO_SEND       APPC_FLIPI(0x0E00)
#define AP_M_SEND_DATA             APPC_FLIPI(0x0F00)
#define AP_M_SEND_ERROR            APPC_FLIPI(0x1000)
#define AP_M_TEST_RTS              APPC_FLIPI(0x1200)
#define AP_M_SEND_CONVERSATION     APPC_FLIPI(0x1800)
#define AP_M_TEST_RTS_AND_POST     APPC_FLIPI(0x8100)
#define AP_M_POST_ON_RECEIPT       APPC_FLIPI(0x8200)
#define AP_M_RECEIVE_LOG_DATA      APPC_FLIPI(0x8300)

#define AP_B_ALLOCATE              APPC_FLIPI(0x0100)
#define AP_B_CONFIRM               APPC_FLIPI(0x0300)
#define AP_B_CONFIRMED             APPC_FLIPI(0x0400)
#define AP_B_DEALLOCATE            APPC_FLIPI(0x0500)
#define AP_B_FLUSH                 APPC_FLIPI(0x0600)
#define AP_B_GET_ATTRIBUTES        APPC_FLIPI(0x0700)
#define AP_B_PREPARE_TO_RECEIVE    APPC_FLIPI(0x0A00)
#define AP_B_RECEIVE_AND_WAIT      APPC_FLIPI(0x0B00)
#define AP_B_RECEIVE_IMMEDIATE     APPC_FLIPI(0x0C00)
#define AP_B_RECEIVE_AND_POST      APPC_FLIPI(0x0D00)
#define AP_B_REQUEST_TO_SEND       APPC_FLIPI(0x0E00)
#define AP_B_SEND_DATA             APPC_FLIPI(0x0F00)
#define AP_B_SEND_ERROR            APPC_FLIPI(0x1000)
#define AP_B_TEST_RTS              APPC_FLIPI(0x1200)
#define AP_B_SEND_CONVERSATION     APPC_FLIPI(0x1800)
#define AP_B_TEST_RTS_AND_POST     APPC_FLIPI(0x8100)
#define AP_B_POST_ON_RECEIPT       APPC_FLIPI(0x8200)
#define AP_B_RECEIVE_LOG_DATA      APPC_FLIPI(0x8300)

#define AP_GET_TP_PROPERTIES       APPC_FLIPI(0x1700)
#define AP_GET_TYPE                APPC_FLIPI(0x0800)
#define AP_GET_STATE               APPC_FLIPI(0x0900)

/* ------------------------------------------------------------------ */
/* Return codes                                                        */
/* ------------------------------------------------------------------ */
/* primary_rc (flipped) */
#define AP_OK                                  APPC_FLIPI(0x0000)
#define AP_PARAMETER_CHECK                     APPC_FLIPI(0x0001)
#define AP_STATE_CHECK                         APPC_FLIPI(0x0002)
#define AP_ALLOCATION_ERROR                    APPC_FLIPI(0x0003)
#define AP_DEALLOC_ABEND                       APPC_FLIPI(0x0005)
#define AP_DEALLOC_ABEND_PROG                  APPC_FLIPI(0x0006)
#define AP_DEALLOC_ABEND_SVC                   APPC_FLIPI(0x0007)
#define AP_DEALLOC_ABEND_TIMER                 APPC_FLIPI(0x0008)
#define AP_DEALLOC_NORMAL                      APPC_FLIPI(0x0009)
#define AP_PROG_ERROR_NO_TRUNC                 APPC_FLIPI(0x000C)
#define AP_PROG_ERROR_TRUNC                    APPC_FLIPI(0x000D)
#define AP_PROG_ERROR_PURGING                  APPC_FLIPI(0x000E)
#define AP_CONV_FAILURE_RETRY                  APPC_FLIPI(0x000F)
#define AP_CONV_FAILURE_NO_RETRY               APPC_FLIPI(0x0010)
#define AP_SVC_ERROR_NO_TRUNC                  APPC_FLIPI(0x0011)
#define AP_SVC_ERROR_TRUNC                     APPC_FLIPI(0x0012)
#define AP_SVC_ERROR_PURGING                   APPC_FLIPI(0x0013)
#define AP_UNSUCCESSFUL                        APPC_FLIPI(0x0014)
#define AP_CNOS_LOCAL_RACE_REJECT              APPC_FLIPI(0x0017)
#define AP_CNOS_PARTNER_LU_REJECT              APPC_FLIPI(0x0018)
#define AP_CONVERSATION_TYPE_MIXED             APPC_FLIPI(0x0019)
#define AP_CANCELLED                           APPC_FLIPI(0x0021)
#define AP_SECURITY_REQUESTED_NOT_SUPPORTED    APPC_FLIPI(0x0022)
#define AP_BACKED_OUT                          APPC_FLIPI(0x0023)
#define AP_ACTIVATION_FAIL_RETRY               APPC_FLIPI(0x0310)
#define AP_ACTIVATION_FAIL_NO_RETRY            APPC_FLIPI(0x0311)
#define AP_SESSION_LIMITS_CLOSED               APPC_FLIPI(0x0312)
#define AP_SESSION_LIMITS_EXCEEDED             APPC_FLIPI(0x0313)
#define AP_VERB_IN_PROGRESS                    APPC_FLIPI(0x0314)
#define AP_SESSION_DEACTIVATED                 APPC_FLIPI(0x0315)
#define AP_TP_BUSY                             APPC_FLIPI(0xF002)
#define AP_COMM_SUBSYSTEM_ABENDED              APPC_FLIPI(0xF003)
#define AP_COMM_SUBSYSTEM_NOT_LOADED           APPC_FLIPI(0xF004)
#define AP_CONV_BUSY                           APPC_FLIPI(0xF005)
#define AP_THREAD_BLOCKING                     APPC_FLIPI(0xF006)
#define AP_INVALID_VERB_SEGMENT                APPC_FLIPI(0xF008)
#define AP_CANT_ENLIST_TX                      APPC_FLIPI(0xF009)
#define AP_CANT_CONTACT_DTC                    APPC_FLIPI(0xF00A)
#define AP_UNEXPECTED_DOS_ERROR                APPC_FLIPI(0xF011)
#define AP_STACK_TOO_SMALL                     APPC_FLIPI(0xF015)
#define AP_INVALID_KEY                         APPC_FLIPI(0xF020)
#define AP_INVALID_VERB                        APPC_FLIPI(0xFFFF)
/* secondary_rc (flipped) */
#define AP_BAD_TP_ID                           APPC_FLIPL(0x00000001)
#define AP_BAD_CONV_ID                         APPC_FLIPL(0x00000002)
#define AP_BAD_LU_ALIAS                        APPC_FLIPL(0x00000003)
#define AP_INVALID_DATA_SEGMENT                APPC_FLIPL(0x00000006)
#define AP_BAD_CONV_TYPE                       APPC_FLIPL(0x00000011)
#define AP_BAD_SYNC_LEVEL                      APPC_FLIPL(0x00000012)
#define AP_BAD_SECURITY                        APPC_FLIPL(0x00000013)
#define AP_BAD_RETURN_CONTROL                  APPC_FLIPL(0x00000014)
#define AP_PIP_LEN_INCORRECT                   APPC_FLIPL(0x00000016)
#define AP_NO_USE_OF_SNASVCMG                  APPC_FLIPL(0x00000017)
#define AP_UNKNOWN_PARTNER_MODE                APPC_FLIPL(0x00000018)
#define AP_CONFIRM_ON_SYNC_LEVEL_NONE          APPC_FLIPL(0x00000031)
#define AP_DEALLOC_BAD_TYPE                    APPC_FLIPL(0x00000051)
#define AP_DEALLOC_LOG_LL_WRONG                APPC_FLIPL(0x00000057)
#define AP_P_TO_R_INVALID_TYPE                 APPC_FLIPL(0x000000A1)
#define AP_RCV_AND_WAIT_BAD_FILL               APPC_FLIPL(0x000000B5)
#define AP_RCV_IMMD_BAD_FILL                   APPC_FLIPL(0x000000C4)
#define AP_RCV_AND_POST_BAD_FILL               APPC_FLIPL(0x000000D5)
#define AP_INVALID_SEMAPHORE_HANDLE            APPC_FLIPL(0x000000D6)
#define AP_BAD_RETURN_STATUS_WITH_DATA         APPC_FLIPL(0x000000D7)
#define AP_BAD_LL                              APPC_FLIPL(0x000000F1)
#define AP_SEND_DATA_INVALID_TYPE              APPC_FLIPL(0x000000F4)
#define AP_SEND_DATA_CONFIRM_SYNC_NONE         APPC_FLIPL(0x000000F5)
#define AP_SEND_ERROR_LOG_LL_WRONG             APPC_FLIPL(0x00000102)
#define AP_SEND_ERROR_BAD_TYPE                 APPC_FLIPL(0x00000103)
#define AP_BAD_ERROR_DIRECTION                 APPC_FLIPL(0x00000105)
#define AP_BAD_PARTNER_LU_ALIAS                APPC_FLIPL(0x0000015B)
#define AP_TOO_MANY_TPS                        APPC_FLIPL(0x00000243)
#define AP_BAD_TYPE                            APPC_FLIPL(0x00000250)
#define AP_UNDEFINED_TP_NAME                   APPC_FLIPL(0x00000506)
#define AP_INVALID_SESSION_ID                  APPC_FLIPL(0x00000512)
#define AP_INVALID_POLARITY                    APPC_FLIPL(0x00000513)
#define AP_INVALID_TYPE                        APPC_FLIPL(0x00000514)
#define AP_INVALID_LU_ALIAS                    APPC_FLIPL(0x00000515)
#define AP_INVALID_PLU_ALIAS                   APPC_FLIPL(0x00000516)
#define AP_INVALID_MODE_NAME                   APPC_FLIPL(0x00000517)
#define AP_INVALID_TRANSACT_ID                 APPC_FLIPL(0x00000518)
#define AP_INVALID_SET_PROT                    APPC_FLIPL(0x00000700)
#define AP_INVALID_NEW_PROT                    APPC_FLIPL(0x00000701)
#define AP_INVALID_SET_UNPROT                  APPC_FLIPL(0x00000702)
#define AP_INVALID_NEW_UNPROT                  APPC_FLIPL(0x00000703)
#define AP_INVALID_SET_USER                    APPC_FLIPL(0x00000704)
#define AP_INVALID_DATA_TYPE                   APPC_FLIPL(0x00000705)
#define AP_BAD_LOCAL_LU_ALIAS                  APPC_FLIPL(0x01000003)
#define AP_BAD_REMOTE_LU_ALIAS                 APPC_FLIPL(0x02000003)
#define AP_POST_ON_RECEIPT_BAD_FILL            APPC_FLIPL(0x03000003)
#define AP_CONFIRM_BAD_STATE                   APPC_FLIPL(0x00000032)
#define AP_CONFIRM_NOT_LL_BDY                  APPC_FLIPL(0x00000033)
#define AP_CONFIRMED_BAD_STATE                 APPC_FLIPL(0x00000041)
#define AP_DEALLOC_FLUSH_BAD_STATE             APPC_FLIPL(0x00000052)
#define AP_DEALLOC_CONFIRM_BAD_STATE           APPC_FLIPL(0x00000053)
#define AP_DEALLOC_NOT_LL_BDY                  APPC_FLIPL(0x00000055)
#define AP_FLUSH_NOT_SEND_STATE                APPC_FLIPL(0x00000061)
#define AP_P_TO_R_NOT_LL_BDY                   APPC_FLIPL(0x000000A2)
#define AP_P_TO_R_NOT_SEND_STATE               APPC_FLIPL(0x000000A3)
#define AP_RCV_AND_WAIT_BAD_STATE              APPC_FLIPL(0x000000B1)
#define AP_RCV_AND_WAIT_NOT_LL_BDY             APPC_FLIPL(0x000000B2)
#define AP_RCV_IMMD_BAD_STATE                  APPC_FLIPL(0x000000C1)
#define AP_RCV_AND_POST_BAD_STATE              APPC_FLIPL(0x000000D1)
#define AP_RCV_AND_POST_NOT_LL_BDY             APPC_FLIPL(0x000000D2)
#define AP_R_T_S_BAD_STATE                     APPC_FLIPL(0x000000E1)
#define AP_SEND_DATA_NOT_SEND_STATE            APPC_FLIPL(0x000000F2)
#define AP_SEND_DATA_NOT_LL_BDY                APPC_FLIPL(0x000000F6)
#define AP_ATTACH_MANAGER_INACTIVE             APPC_FLIPL(0x00000508)
#define AP_ALLOCATE_NOT_PENDING                APPC_FLIPL(0x00000509)
#define AP_LU_ALREADY_REGISTERED               APPC_FLIPL(0x0000050A)
#define AP_INVALID_PROCESS                     APPC_FLIPL(0x00000525)
#define AP_ALLOCATION_FAILURE_NO_RETRY         APPC_FLIPL(0x00000004)
#define AP_ALLOCATION_FAILURE_RETRY            APPC_FLIPL(0x00000005)
#define AP_SECURITY_NOT_VALID                  APPC_FLIPL(0x080F6051)
#define AP_TRANS_PGM_NOT_AVAIL_RETRY           APPC_FLIPL(0x084B6031)
#define AP_TRANS_PGM_NOT_AVAIL_NO_RETRY        APPC_FLIPL(0x084C0000)
#define AP_TP_NAME_NOT_RECOGNIZED              APPC_FLIPL(0x10086021)
#define AP_PIP_NOT_ALLOWED                     APPC_FLIPL(0x10086031)
#define AP_PIP_NOT_SPECIFIED_CORRECTLY         APPC_FLIPL(0x10086032)
#define AP_CONVERSATION_TYPE_MISMATCH          APPC_FLIPL(0x10086034)
#define AP_SYNC_LEVEL_NOT_SUPPORTED            APPC_FLIPL(0x10086041)
#define AP_SECURITY_NOT_VALID_PASSWORD_EXPIRED APPC_FLIPL(0x080FFF00)
#define AP_SECURITY_NOT_VALID_PASSWORD_INVALID APPC_FLIPL(0x080FFF01)
#define AP_SECURITY_NOT_VALID_USERID_REVOKED   APPC_FLIPL(0x080FFF02)
#define AP_SECURITY_NOT_VALID_USERID_INVALID   APPC_FLIPL(0x080FFF03)
#define AP_SECURITY_NOT_VALID_USERID_MISSING   APPC_FLIPL(0x080FFF04)
#define AP_SECURITY_NOT_VALID_PASSWORD_MISSING APPC_FLIPL(0x080FFF05)
#define AP_SECURITY_NOT_VALID_GROUP_INVALID    APPC_FLIPL(0x080FFF06)
#define AP_SECURITY_NOT_VALID_USERID_REVOKED_IN_GROUP APPC_FLIPL(0x080FFF07)
#define AP_SECURITY_NOT_VALID_USERID_NOT_DEFD_TO_GROUP APPC_FLIPL(0x080FFF08)
#define AP_SECURITY_NOT_VALID_NOT_AUTHORIZED_AT_REMOTE_LU APPC_FLIPL(0x080FFF09)
#define AP_SECURITY_NOT_VALID_NOT_AUTHORIZED_FROM_LOCAL_LU APPC_FLIPL(0x080FFF0A)
#define AP_SECURITY_NOT_VALID_NOT_AUTHORIZED_TO_TRANSACTION_PROGRAM APPC_FLIPL(0x080FFF0B)
#define AP_SECURITY_NOT_VALID_INSTALLATION_EXIT_FAILED APPC_FLIPL(0x080FFF0C)
#define AP_SECURITY_NOT_VALID_PROCESSING_FAILURE APPC_FLIPL(0x080FFF0D)
#define AP_SECURITY_NOT_VALID_PROTOCOL_VIOLATION APPC_FLIPL(0x080FFF0E)
#define AP_BO_NO_RESYNC                        APPC_FLIPL(0x08240000)
#define AP_BO_RESYNC                           APPC_FLIPL(0x08240001)
/* what_rcvd (flipped) */
#define AP_DATA                                APPC_FLIPI(0x0001)
#define AP_DATA_COMPLETE                       APPC_FLIPI(0x0002)
#define AP_NOT_DATA                            APPC_FLIPI(0x0003)
#define AP_DATA_INCOMPLETE                     APPC_FLIPI(0x0004)
#define AP_USER_CONTROL_DATA_COMPLETE          APPC_FLIPI(0x0008)
#define AP_USER_CONTROL_DATA_INCOMPLETE        APPC_FLIPI(0x0010)
#define AP_PS_HEADER_COMPLETE                  APPC_FLIPI(0x0020)
#define AP_PS_HEADER_INCOMPLETE                APPC_FLIPI(0x0040)
#define AP_SEND                                APPC_FLIPI(0x0100)
#define AP_CONFIRM_WHAT_RECEIVED               APPC_FLIPI(0x0200)
#define AP_CONFIRM_SEND                        APPC_FLIPI(0x0300)
#define AP_CONFIRM_DEALLOCATE                  APPC_FLIPI(0x0400)
#define AP_DATA_SEND                           APPC_FLIPI(0x0101)
#define AP_DATA_CONFIRM                        APPC_FLIPI(0x0201)
#define AP_DATA_CONFIRM_SEND                   APPC_FLIPI(0x0301)
#define AP_DATA_CONFIRM_DEALLOCATE             APPC_FLIPI(0x0401)
#define AP_DATA_COMPLETE_SEND                  APPC_FLIPI(0x0102)
#define AP_DATA_COMPLETE_CONFIRM               APPC_FLIPI(0x0202)
#define AP_DATA_COMPLETE_CONFIRM_SEND          APPC_FLIPI(0x0302)
#define AP_DATA_COMPLETE_CONFIRM_DEALL         APPC_FLIPI(0x0402)

/* ------------------------------------------------------------------ */
/* Single-byte parameter values                                        */
/* ------------------------------------------------------------------ */
#define AP_BASIC_CONVERSATION        0x00
#define AP_MAPPED_CONVERSATION       0x01
#define AP_EXTD_VCB                  0x80

#define AP_NO                        0x00
#define AP_YES                       0x01

#define AP_NONE                      0x00
#define AP_CONFIRM_SYNC_LEVEL        0x01
#define AP_SYNCPT                    0x02

#define AP_SAME                      0x01
#define AP_PGM                       0x02
#define AP_STRONG                    0x03
#define AP_PROXY                     0x80
#define AP_PROXY_SAME                0x81
#define AP_PROXY_PGM                 0x82
#define AP_PROXY_STRONG              0x83

#define AP_WHEN_SESSION_ALLOCATED    0x00
#define AP_IMMEDIATE                 0x01
#define AP_WHEN_SESSION_FREE         0x02
#define AP_WHEN_CONWINNER_ALLOCATED  0x03
#define AP_WHEN_CONV_GROUP_ALLOCATED 0x04

#define AP_SYNC_LEVEL                0x00
#define AP_FLUSH                     0x01
#define AP_ABEND_PROG                0x02
#define AP_ABEND_SVC                 0x03
#define AP_ABEND_TIMER               0x04
#define AP_ABEND                     0x05
#define AP_CONFIRM_TYPE              0x0B

#define AP_SEND_DATA_FLUSH           0x01
#define AP_SEND_DATA_CONFIRM         0x02
#define AP_SEND_DATA_P_TO_R_FLUSH    0x03
#define AP_SEND_DATA_P_TO_R_SYNC_LEVEL 0x04
#define AP_SEND_DATA_DEALLOC_FLUSH   0x05
#define AP_SEND_DATA_DEALLOC_SYNC_LEVEL 0x06
#define AP_SEND_DATA_DEALLOC_ABEND   0x07

#define AP_BUFFER                    0x00
#define AP_LL                        0x01

#define AP_PROG                      0x00
#define AP_SVC                       0x01
#define AP_RCV_DIR_ERROR             0x00
#define AP_SEND_DIR_ERROR            0x01

#define AP_SOFT                      0x00
#define AP_HARD                      0x01

#define AP_SHORT                     0x00
#define AP_LONG                      0x01

#define AP_RESET_STATE               1
#define AP_SEND_STATE                2
#define AP_RECEIVE_STATE             3
#define AP_CONFIRM_STATE             4
#define AP_CONFIRM_SEND_STATE        5
#define AP_CONFIRM_DEALL_STATE       6
#define AP_PEND_POST_STATE           7
#define AP_PEND_DEALL_STATE          8
#define AP_END_CONV_STATE            9
#define AP_SEND_PENDING_STATE        10

/* ------------------------------------------------------------------ */
/* Verb control blocks                                                 */
/* ------------------------------------------------------------------ */
#define APPC_HDR_FIELDS           \
  unsigned short opcode;          \
  unsigned char  opext;           \
  unsigned char  reserv2;         \
  unsigned short primary_rc;      \
  AP_ULONG       secondary_rc

#define APPC_CONV_FIELDS          \
  APPC_HDR_FIELDS;                \
  unsigned char  tp_id[8];        \
  AP_ULONG       conv_id

struct appc_hdr { APPC_HDR_FIELDS; };

typedef struct activate_session
{
  unsigned short opcode;
  unsigned char  reserv2[2];
  unsigned short primary_rc;
  AP_ULONG       secondary_rc;
  unsigned char  reserv3[8];
  unsigned char  lu_alias[8];
  unsigned char  plu_alias[8];
  unsigned char  mode_name[8];
  unsigned char  fqplu_name[17];
  unsigned char  polarity;
  unsigned char  session_id[8];
  AP_ULONG       conv_group_id;
  unsigned char  reserv4[1];
  unsigned char  type;
  HANDLE         deactivation_event;
  unsigned short *p_deactivation_status;
  unsigned char  reserv5[10];
} ACTIVATE_SESSION;

typedef struct deactivate_session
{
  unsigned short opcode;
  unsigned char  reserv2[2];
  unsigned short primary_rc;
  AP_ULONG       secondary_rc;
  unsigned char  reserv3[8];
  unsigned char  lu_alias[8];
  unsigned char  session_id[8];
  unsigned char  plu_alias[8];
  unsigned char  mode_name[8];
  unsigned char  type;
  unsigned char  reserv4[3];
  unsigned short sense_data;
  unsigned char  fqplu_name[17];
  unsigned char  reserv5[17];
} DEACTIVATE_SESSION;

struct tp_started
{
  APPC_HDR_FIELDS;
  unsigned char  lu_alias[8];      /* in: ASCII, blank-padded; blanks = default LU */
  unsigned char  tp_id[8];         /* out */
  unsigned char  tp_name[64];      /* in: ASCII, blank-padded */
};

struct receive_allocate
{
  APPC_HDR_FIELDS;
  unsigned char  tp_name[64];      /* in: ASCII, blank-padded */
  unsigned char  tp_id[8];         /* out */
  AP_ULONG       conv_id;          /* out */
  unsigned char  sync_level;       /* out */
  unsigned char  conv_type;        /* out */
  unsigned char  user_id[10];      /* out: ASCII */
  unsigned char  lu_alias[8];      /* ASCII */
  unsigned char  plu_alias[8];     /* out: ASCII */
  unsigned char  mode_name[8];     /* out: ASCII */
  unsigned char  reserv3[2];
  AP_ULONG       conv_group_id;
  unsigned char  fqplu_name[17];
  unsigned char  reserv4[5];
};

struct receive_allocate_ex
{
  unsigned short opcode;
  unsigned char  opext;
  unsigned char  format;
  unsigned short primary_rc;
  AP_ULONG       secondary_rc;
  unsigned char  tp_name[64];
  unsigned char  tp_id[8];
  AP_ULONG       conv_id;
  unsigned char  sync_level;
  unsigned char  conv_type;
  unsigned char  user_id[10];
  unsigned char  lu_alias[8];
  unsigned char  plu_alias[8];
  unsigned char  mode_name[8];
  unsigned char  reserv3[2];
  AP_ULONG       conv_group_id;
  unsigned char  fqplu_name[17];
  unsigned char  pip_incoming;
  AP_ULONG       timeout;
  unsigned char  password[10];
  unsigned char  reserv5[2];
  unsigned char  attach_id[8];
};

struct receive_allocate_ex_end
{
  unsigned short opcode;
  unsigned char  reserv2[2];
  unsigned short primary_rc;
  AP_ULONG       secondary_rc;
  unsigned char  tp_name[64];
  unsigned char  lu_alias[8];
  unsigned char  reserved3[20];
};

struct tp_ended
{
  APPC_HDR_FIELDS;
  unsigned char  tp_id[8];
  unsigned char  type;             /* AP_SOFT, AP_HARD */
};

/* The ALLOCATE tail shared by the basic and mapped forms. plu_alias is
 * ASCII; mode_name and tp_name are EBCDIC, as the published header's
 * documentation says (the engine converts them). */
#define APPC_ALLOCATE_TAIL(r1, r2) \
  unsigned char  rtn_ctl;          \
  unsigned char  r1;               \
  AP_ULONG       conv_group_id;    \
  AP_ULONG       sense_data;       \
  unsigned char  plu_alias[8];     \
  unsigned char  mode_name[8];     \
  unsigned char  tp_name[64];      \
  unsigned char  security;         \
  unsigned char  r2[11];           \
  unsigned char  pwd[10];          \
  unsigned char  user_id[10];      \
  unsigned short pip_dlen;         \
  unsigned char *pip_dptr;         \
  unsigned char  reserv7;          \
  unsigned char  fqplu_name[17];   \
  unsigned char  reserv8[8];       \
  LPWSTR         proxy_user;       \
  LPWSTR         proxy_domain;     \
  unsigned char  reserv9[16]

struct mc_allocate
{
  APPC_CONV_FIELDS;
  unsigned char  reserv3;
  unsigned char  sync_level;
  unsigned char  reserv4[2];
  APPC_ALLOCATE_TAIL(reserv5, reserv6);
};

struct allocate
{
  APPC_CONV_FIELDS;
  unsigned char  conv_type;
  unsigned char  sync_level;
  unsigned char  reserv3[2];
  APPC_ALLOCATE_TAIL(reserv4, reserv5);
};

#define APPC_SEND_CONVERSATION_FIELDS \
  APPC_HDR_FIELDS;                 \
  unsigned char  tp_id[8];         \
  unsigned char  reserv3[8];       \
  unsigned char  rtn_ctl;          \
  unsigned char  reserv4;          \
  AP_ULONG       conv_group_id;    \
  AP_ULONG       sense_data;       \
  unsigned char  plu_alias[8];     \
  unsigned char  mode_name[8];     \
  unsigned char  tp_name[64];      \
  unsigned char  security;         \
  unsigned char  reserv5[11];      \
  unsigned char  pwd[10];          \
  unsigned char  user_id[10];      \
  unsigned short pip_dlen;         \
  unsigned char *pip_dptr;         \
  unsigned char  reserv6;          \
  unsigned char  fqplu_name[17];   \
  unsigned char  reserv7[8];       \
  unsigned short dlen;             \
  unsigned char *dptr

struct mc_send_conversation { APPC_SEND_CONVERSATION_FIELDS; };
struct send_conversation { APPC_SEND_CONVERSATION_FIELDS; };

struct mc_confirm { APPC_CONV_FIELDS; unsigned char rts_rcvd; };
struct confirm { APPC_CONV_FIELDS; unsigned char rts_rcvd; };
struct mc_confirmed { APPC_CONV_FIELDS; };
struct confirmed { APPC_CONV_FIELDS; };
struct mc_flush { APPC_CONV_FIELDS; };
struct flush { APPC_CONV_FIELDS; };
struct mc_request_to_send { APPC_CONV_FIELDS; };
struct request_to_send { APPC_CONV_FIELDS; };

struct mc_deallocate
{
  APPC_CONV_FIELDS;
  unsigned char  reserv3;
  unsigned char  dealloc_type;
  unsigned char  reserv4[2];
  unsigned char  reserv5[4];
};

struct deallocate
{
  APPC_CONV_FIELDS;
  unsigned char  reserv3;
  unsigned char  dealloc_type;
  unsigned short log_dlen;
  unsigned char *log_dptr;
};

#define APPC_GET_ATTRIBUTES_FIELDS \
  APPC_CONV_FIELDS;                \
  unsigned char  reserv3;          \
  unsigned char  sync_level;       \
  unsigned char  mode_name[8];     \
  unsigned char  net_name[8];      \
  unsigned char  lu_name[8];       \
  unsigned char  lu_alias[8];      \
  unsigned char  plu_alias[8];     \
  unsigned char  plu_un_name[8];   \
  unsigned char  reserv4[2];       \
  unsigned char  fqplu_name[17];   \
  unsigned char  reserv5;          \
  unsigned char  user_id[10];      \
  AP_ULONG       conv_group_id;    \
  unsigned char  conv_corr_len;    \
  unsigned char  conv_corr[8];     \
  unsigned char  reserv6[13]

struct mc_get_attributes { APPC_GET_ATTRIBUTES_FIELDS; };
struct get_attributes { APPC_GET_ATTRIBUTES_FIELDS; };

struct mc_prepare_to_receive { APPC_CONV_FIELDS; unsigned char ptr_type; unsigned char locks; };
struct prepare_to_receive { APPC_CONV_FIELDS; unsigned char ptr_type; unsigned char locks; };

/* Receives: the mapped forms have a reserved byte where the basic ones
 * have fill. */
#define APPC_RECEIVE_FIELDS(fill_or_reserv) \
  APPC_CONV_FIELDS;                \
  unsigned short what_rcvd;        \
  unsigned char  rtn_status;       \
  unsigned char  fill_or_reserv;   \
  unsigned char  rts_rcvd;         \
  unsigned char  reserv_rts;       \
  unsigned short max_len;          \
  unsigned short dlen;             \
  unsigned char *dptr

struct mc_receive_and_wait { APPC_RECEIVE_FIELDS(reserv4); unsigned char reserv6[5]; };
struct receive_and_wait { APPC_RECEIVE_FIELDS(fill); unsigned char reserv5[5]; };
struct mc_receive_immediate { APPC_RECEIVE_FIELDS(reserv4); unsigned char reserv6[5]; };
struct receive_immediate { APPC_RECEIVE_FIELDS(fill); unsigned char reserv5[5]; };
struct mc_receive_and_post { APPC_RECEIVE_FIELDS(reserv4); unsigned char *sema; unsigned char reserv6; };
struct receive_and_post { APPC_RECEIVE_FIELDS(fill); unsigned char *sema; unsigned char reserv5; };

struct mc_send_data
{
  APPC_CONV_FIELDS;
  unsigned char  rts_rcvd;
  unsigned char  reserv3;
  unsigned short dlen;
  unsigned char *dptr;
  unsigned char  type;             /* AP_NONE, AP_SEND_DATA_* */
  unsigned char  reserv4;
};
struct send_data
{
  APPC_CONV_FIELDS;
  unsigned char  rts_rcvd;
  unsigned char  reserv3;
  unsigned short dlen;
  unsigned char *dptr;
  unsigned char  type;
  unsigned char  reserv4;
};

struct mc_send_error
{
  APPC_CONV_FIELDS;
  unsigned char  rts_rcvd;
  unsigned char  reserv3;
  unsigned char  err_dir;
  unsigned char  reserv4;
  unsigned short log_dlen;
  unsigned char *log_dptr;
};
struct send_error
{
  APPC_CONV_FIELDS;
  unsigned char  rts_rcvd;
  unsigned char  err_type;
  unsigned char  err_dir;
  unsigned char  reserv3;
  unsigned short log_dlen;
  unsigned char *log_dptr;
};

struct mc_test_rts { APPC_CONV_FIELDS; unsigned char reserv3; };
struct test_rts { APPC_CONV_FIELDS; unsigned char reserv3; };
struct mc_test_rts_and_post { APPC_CONV_FIELDS; unsigned char reserv3; AP_ULONG handle; };
struct test_rts_and_post { APPC_CONV_FIELDS; unsigned char reserv3; AP_ULONG handle; };

#define APPC_POST_ON_RECEIPT_FIELDS(fill_or_reserv) \
  unsigned short opcode;           \
  unsigned char  opext;            \
  unsigned char  reserv1;          \
  unsigned short primary_rc;       \
  AP_ULONG       secondary_rc;     \
  unsigned char  tp_id[8];         \
  AP_ULONG       conv_id;          \
  unsigned short reserv2;          \
  unsigned char  fill_or_reserv;   \
  unsigned char  reserv4;          \
  unsigned short max_len;          \
  unsigned short reserv5;          \
  unsigned char *reserv6;          \
  unsigned char  reserv7[5];       \
  AP_ULONG       sema

struct mc_post_on_receipt { APPC_POST_ON_RECEIPT_FIELDS(reserv3); };
struct post_on_receipt { APPC_POST_ON_RECEIPT_FIELDS(fill); };

#define APPC_RECEIVE_LOG_DATA_FIELDS \
  unsigned short opcode;           \
  unsigned char  opext;            \
  unsigned char  reserv1;          \
  unsigned short primary_rc;       \
  AP_ULONG       secondary_rc;     \
  unsigned char  tp_id[8];         \
  AP_ULONG       conv_id;          \
  unsigned short log_dlen;         \
  unsigned char *log_dptr

struct mc_receive_log_data { APPC_RECEIVE_LOG_DATA_FIELDS; };
struct receive_log_data { APPC_RECEIVE_LOG_DATA_FIELDS; };

struct get_tp_properties
{
  unsigned short opcode;
  unsigned char  reserv2[2];
  unsigned short primary_rc;
  AP_ULONG       secondary_rc;
  unsigned char  tp_id[8];
  unsigned char  tp_name[64];
  unsigned char  lu_alias[8];
  unsigned char  luw_id[26];
  unsigned char  fqlu_name[17];
  unsigned char  reserv3[10];
  unsigned char  user_id[10];
};

struct get_type { APPC_CONV_FIELDS; unsigned char conv_type; };
struct get_state { APPC_CONV_FIELDS; unsigned char conv_state; };
struct enlist { APPC_CONV_FIELDS; AP_ULONG tran_id; };

typedef struct tp_started            TP_STARTED;
typedef struct receive_allocate      RECEIVE_ALLOCATE;
typedef struct receive_allocate_ex   RECEIVE_ALLOCATE_EX;
typedef struct receive_allocate_ex_end RECEIVE_ALLOCATE_EX_END;
typedef struct tp_ended              TP_ENDED;
typedef struct mc_allocate           MC_ALLOCATE;
typedef struct mc_confirm            MC_CONFIRM;
typedef struct mc_confirmed          MC_CONFIRMED;
typedef struct mc_deallocate         MC_DEALLOCATE;
typedef struct mc_flush              MC_FLUSH;
typedef struct mc_get_attributes     MC_GET_ATTRIBUTES;
typedef struct mc_prepare_to_receive MC_PREPARE_TO_RECEIVE;
typedef struct mc_receive_and_post   MC_RECEIVE_AND_POST;
typedef struct mc_receive_and_wait   MC_RECEIVE_AND_WAIT;
typedef struct mc_receive_immediate  MC_RECEIVE_IMMEDIATE;
typedef struct mc_request_to_send    MC_REQUEST_TO_SEND;
typedef struct mc_send_conversation  MC_SEND_CONVERSATION;
typedef struct mc_send_data          MC_SEND_DATA;
typedef struct mc_send_error         MC_SEND_ERROR;
typedef struct mc_test_rts           MC_TEST_RTS;
typedef struct mc_test_rts_and_post  MC_TEST_RTS_AND_POST;
typedef struct mc_post_on_receipt    MC_POST_ON_RECEIPT;
typedef struct mc_receive_log_data   MC_RECEIVE_LOG_DATA;
typedef struct allocate              ALLOCATE;
typedef struct confirm               CONFIRM;
typedef struct confirmed             CONFIRMED;
typedef struct deallocate            DEALLOCATE;
typedef struct flush                 FLUSH;
typedef struct get_attributes        GET_ATTRIBUTES;
typedef struct prepare_to_receive    PREPARE_TO_RECEIVE;
typedef struct receive_and_post      RECEIVE_AND_POST;
typedef struct receive_and_wait      RECEIVE_AND_WAIT;
typedef struct receive_immediate     RECEIVE_IMMEDIATE;
typedef struct request_to_send       REQUEST_TO_SEND;
typedef struct send_conversation     SEND_CONVERSATION;
typedef struct send_data             SEND_DATA;
typedef struct send_error            SEND_ERROR;
typedef struct test_rts              TEST_RTS;
typedef struct test_rts_and_post     TEST_RTS_AND_POST;
typedef struct post_on_receipt       POST_ON_RECEIPT;
typedef struct receive_log_data      RECEIVE_LOG_DATA;
typedef struct get_tp_properties     GET_TP_PROPERTIES;
typedef struct get_type              GET_TYPE;
typedef struct get_state             GET_STATE;

/* ------------------------------------------------------------------ */
/* The Windows APPC functions                                          */
/* ------------------------------------------------------------------ */
typedef struct
{
  HANDLE       APPC_CompletionPort;
  DWORD        APPC_NumberOfBytesTransferred;
  DWORD        APPC_CompletionKey;
  LPOVERLAPPED APPC_pOverlapped;
} APPC_IOCP_INFO;

#define WAPPCALREADY         0xF000
#define WAPPCINVALID         0xF001
#define WAPPCCANCEL          0xF002
#define WAPPCSYSNOTREADY     0xF003
#define WAPPCVERNOTSUPPORTED 0xF004

#define WAPPCDESCRIPTION_LEN 127
typedef struct tagWAPPCDATA
{
  WORD wVersion;
  char szDescription[WAPPCDESCRIPTION_LEN + 1];
} WAPPCDATA, *PWAPPCDATA, FAR *LPWAPPCDATA;

#define WIN_APPC_ASYNC_COMPLETE_MESSAGE "WinAsyncAPPC"

/* GetAppcReturnCode's GetLastError codes (errno on Linux). */
#define APPC_GRC_BAD_PARAMETERS   0x20000001
#define APPC_GRC_BUFFER_TOO_SMALL 0x20000002

extern void    WINAPI APPC(APPC_VCB vcb);
extern HANDLE  WINAPI WinAsyncAPPC(HWND hWnd, APPC_VCB vcb);
extern HANDLE  WINAPI WinAsyncAPPCEx(HANDLE hEvent, APPC_VCB vcb);
extern HANDLE  WINAPI WinAsyncAPPCIOCP(APPC_IOCP_INFO *info, APPC_VCB vcb);
extern int     WINAPI WinAPPCStartup(WORD wVersionRequired, LPWAPPCDATA data);
extern BOOL    WINAPI WinAPPCCleanup(void);
extern BOOL    WINAPI WinAPPCIsBlocking(void);
extern int     WINAPI WinAPPCCancelAsyncRequest(HANDLE hAsyncTask);
extern BOOL    WINAPI WinAPPCCancelBlockingCall(void);
extern FARPROC WINAPI WinAPPCSetBlockingHook(FARPROC hook);
extern BOOL    WINAPI WinAPPCUnhookBlockingHook(void);
extern int     WINAPI GetAppcReturnCode(struct appc_hdr FAR *vcb, UINT buffer_length,
                                        unsigned char FAR *buffer);

#if defined(_WIN32) && !defined(_WIN64)
#pragma pack(pop)
#endif

#ifdef __cplusplus
}
#endif

#endif /* APPC_C_INCLUDED */
