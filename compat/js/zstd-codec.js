// A kafkajs codec for zstd over the pure JS/wasm `zstd-codec` package (the native @kafkajs/zstd does
// not build on current Node). Decompression must stream: frames written by streaming compressors
// (librdkafka, Java) carry no content size, which the simple API needs.
const { ZstdCodec } = require('zstd-codec')

const zstd = new Promise((resolve) => ZstdCodec.run(resolve))

module.exports = () => ({
  async compress(encoder) {
    const z = await zstd
    return Buffer.from(new z.Simple().compress(encoder.buffer, 3))
  },
  async decompress(buffer) {
    const z = await zstd
    return Buffer.from(new z.Streaming().decompress(buffer))
  },
})
