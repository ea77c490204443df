;; The smallest WASI program: writes one line to stdout. Run it with:
;;   strata run --rm --tier wasm examples/hello.wat
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (export "memory" (memory 0))
  (data (i32.const 8) "hello from the wasm tier\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 8))   ;; iovec.buf
    (i32.store (i32.const 4) (i32.const 25))  ;; iovec.len
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 40)))))
