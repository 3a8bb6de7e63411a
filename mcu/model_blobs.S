/* The segment file and the input, embedded in flash at 16-byte alignment so
   the reader uses the weights in place. Paths come from the build (-D). */
  .section .model.segment, "a"
  .balign 16
  .global es_segment_blob, es_segment_blob_end
es_segment_blob:
  .incbin ES_MCU_SEGMENT_FILE
es_segment_blob_end:
  .section .model.input, "a"
  .balign 16
  .global es_input_blob, es_input_blob_end
es_input_blob:
  .incbin ES_MCU_INPUT_FILE
es_input_blob_end:
