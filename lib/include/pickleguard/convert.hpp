// pickleguard/convert.hpp — checkpoints to safetensors, without unpickling.
//
// The usual converter (the safetensors project's conversion script) calls
// torch.load on the file it is asked to make safe. This stage never runs the
// pickle: the file is scanned first under a policy (an unsafe or malformed
// file is refused with the scan's findings), then the tensors are read from
// the decoded value graph — each `torch._utils._rebuild_tensor_v2` or
// `_rebuild_parameter` call names its storage by persistent id, its storage
// offset, size and stride — and their bytes are copied from the storage
// records of the mapped file into a safetensors file, contiguous and
// little-endian, a bounded buffer at a time. numpy .npy and .npz files are
// converted from their headers the same way.
//
//     auto file = pickleguard::map_file("pytorch_model.bin").value();
//     pickleguard::convert_options o;
//     o.scan_policy = &policy;
//     pickleguard::conversion c = pickleguard::convert_file(file.bytes(), "model.safetensors", o);
//     if (c.failure) { /* c.report has the findings when the scan refused it; no file was written */ }
//
// The tensor-extraction step is public on its own (extract_tensors,
// copy_tensor) so a fuzzer or another writer can drive it.
#pragma once

#include "pickleguard/error.hpp"
#include "pickleguard/policy.hpp"
#include "pickleguard/scan.hpp"
#include "pickleguard/value.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pickleguard {

// The element types safetensors has. Order: as safetensors sorts them
// (larger alignment first when written).
enum class tensor_dtype : std::uint8_t { boolean, u8, i8, f8_e5m2, f8_e4m3, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64 };
std::string_view safetensors_name(tensor_dtype t) noexcept;  // "F32", "BOOL", "F8_E4M3", ...
std::uint64_t element_size(tensor_dtype t) noexcept;

// The dtype a torch storage class stands for ("torch.FloatStorage",
// "torch.cuda.HalfStorage", "torch.Float8_e4m3fnStorage"). An error naming
// the class when safetensors has no such type (complex, quantized) or the
// class is none torch writes.
result<tensor_dtype> dtype_of_storage_class(std::string_view qualified_class);

// One tensor as a view on a storage: what _rebuild_tensor_v2 would build.
struct tensor_view {
    std::string name;
    tensor_dtype dtype = tensor_dtype::f32;
    std::vector<std::uint64_t> shape;
    std::vector<std::uint64_t> stride;   // in elements
    std::uint64_t offset = 0;            // storage offset, in elements
    std::string storage;                 // the storage's key
    std::span<const std::byte> bytes;    // the whole storage
    bool big_endian = false;             // the storage's byte order

    std::uint64_t numel() const;         // product of shape (checked not to overflow when extracted)
    std::uint64_t nbytes() const { return numel() * element_size(dtype); }
    // The storage offset and size cover the whole storage (the tensor owns it).
    bool complete() const { return offset == 0 && nbytes() == bytes.size(); }
};

// A storage's bytes, looked up by the key its persistent id names; the
// lookup checks that the record holds `numel` elements of `dtype`.
struct storage_bytes {
    std::span<const std::byte> bytes;
    bool big_endian = false;
};
using storage_source =
    std::function<result<storage_bytes>(std::string_view key, tensor_dtype dtype, std::uint64_t numel)>;

struct extracted_tensors {
    std::vector<tensor_view> tensors;     // in the dict's order
    std::vector<std::string> non_tensors; // "epoch (int)", "optimizer (dict)": keys whose values are not tensors
    std::vector<std::string> unwrapped;   // other top-level keys dropped with a `state_dict` wrapper
};

// The tensors of a torch.save'd dict, read from its decoded graph: the root
// must be a dict or an OrderedDict with str keys; a top-level "state_dict"
// is unwrapped, as the conversion script does. Every view is checked against
// its storage (sizes, offset and strides that reach past it are an error,
// never a read). Complex and quantized tensors are errors naming the key.
result<extracted_tensors> extract_tensors(const value_graph& graph, value_ref root, const storage_source& storages);

// Checks one view against its storage: shape and stride of equal rank, no
// overflow, and every element inside the storage's bytes.
result<void> check_view(const tensor_view& t);

// Writes the tensor's elements in row-major order, little-endian, to `sink`
// in pieces of at most a few MiB (a transposed or strided view is copied
// element by element, in tiles). `sink` returns false to stop (a write
// error). The view must have passed check_view.
using byte_sink = std::function<bool(std::span<const std::byte>)>;
bool copy_tensor(const tensor_view& t, const byte_sink& sink);

struct convert_options {
    const pickleguard::policy* scan_policy = nullptr;  // the scan's policy (required)
    scan_options scan{};
    std::string key_prefix;              // put before every tensor name
    bool skip_non_tensors = false;       // drop non-tensor values (listed in `dropped`) instead of failing
    std::string input_name;              // how the scan's report names the input
    std::string array_name = "array";    // the tensor name of a lone .npy
    bool force = false;                  // replace an existing output file
    // An open descriptor of the file `input` maps (its offset 0 is the
    // span's first byte), or -1: contiguous little-endian tensors are then
    // copied by the kernel (copy_file_range), as cp copies, never through
    // this process's memory.
    int input_fd = -1;
};

struct conversion {
    file_report report;                  // the scan's report
    std::optional<error> failure;        // set: nothing was written
    std::string format;                  // "pytorch-zip", "pytorch-legacy", "npy", "npz"
    std::vector<std::string> written;    // tensor names, in the file's order
    std::map<std::string, std::string> shared;  // name -> the name written for its storage
    std::vector<std::string> dropped;    // non-tensor keys skipped (--skip-non-tensors), unwrapped keys
    std::uint64_t tensor_bytes = 0;      // bytes of tensor data written
    std::uint64_t file_bytes = 0;        // size of the output
};

// Scans `input` under options.policy, then writes its tensors to `output` as
// safetensors: to a temporary file beside it, renamed into place only when
// everything was written, so a refused or failed conversion leaves no file.
conversion convert_file(std::span<const std::byte> input, const std::string& output, const convert_options& options);

// The tensors of `input` without writing them (after the same scan); for
// tools that write elsewhere. The views point into `input`.
struct checkpoint_tensors {
    file_report report;
    std::optional<error> failure;
    std::string format;
    extracted_tensors tensors;
    std::vector<std::vector<std::byte>> owned;  // inflated .npz members the views point into
};
checkpoint_tensors read_checkpoint_tensors(std::span<const std::byte> input, const convert_options& options);

// The read stage's part: the tensors of a file already scanned, whose
// format (a file_report's, "pytorch-zip", "pytorch-legacy", "npy", "npz")
// is known, found in its records as its loader finds them. Inflated .npz
// members are kept in `owned`.
result<extracted_tensors> read_tensor_records(std::span<const std::byte> input, std::string_view format,
                                              const convert_options& options, std::vector<std::vector<std::byte>>& owned);

// safetensors' header for `tensors` written in this order with the given
// __metadata__ ("format": "pt" is added): JSON, padded with spaces to a
// multiple of 8 bytes, not including the 8-byte length before it.
std::string safetensors_header(const std::vector<const tensor_view*>& tensors,
                               const std::map<std::string, std::string>& metadata);

}  // namespace pickleguard
