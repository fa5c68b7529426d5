#pragma once
/// @file trace_mutations.hpp
/// Structural mutations of real gradlab traces, made through the HDF5 API so that the file stays valid HDF5
/// and what gets tested is gradlab's own reader (trace/trace_reader, analysis/diagnosis: `gradlab inspect`):
/// datasets and attributes deleted, rewritten with other types, shapes and values, resized, replaced by groups,
/// moved, linked in cycles or to nowhere; then, at the file level, truncation. And the property every input
/// must satisfy: it is diagnosed (text and JSON), or refused with gradlab::Error naming the file.
/// Header-only: shared by tests/framework/trace/trace_mutation_test.cpp and tests/fuzz/fuzz_trace.cpp.

#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "analysis/diagnosis.hpp"
#include "config/run_config.hpp"
#include "gradlab/error.hpp"
#include "trace/hdf5_handle.hpp"
#include "training/trainer.hpp"

namespace gradlab::fuzz {

/// What happened to one trace.
struct TraceOutcome {
    bool read = false;
    std::string error;      ///< gradlab's message when refused
    std::string violation;  ///< non-empty when the property failed
};

/// Runs what `gradlab inspect` and `gradlab inspect --json` run. The property: it succeeds, or it throws
/// gradlab::Error with a non-empty message that names `path`. Any other exception is a violation.
inline TraceOutcome checkTraceInput(const std::string& path) {
    TraceOutcome outcome;
    try {
        const analysis::Diagnosis diagnosis = analysis::diagnose(path);
        const std::string text = analysis::formatText(diagnosis);
        const std::string json = analysis::formatJson(diagnosis);
        if (text.find(path) == std::string::npos || json.empty())
            outcome.violation = "diagnosed, but the text does not name the file";
        outcome.read = true;
    } catch (const Error& error) {
        outcome.error = error.what();
        if (outcome.error.empty())
            outcome.violation = "refused with an empty message";
        else if (outcome.error.find(path) == std::string::npos)
            outcome.violation = "refused with a message that does not name the file: " + outcome.error;
    } catch (const std::exception& error) {
        outcome.violation = std::string("escaped as ") + typeid(error).name() + ", not gradlab::Error: " + error.what();
    } catch (...) {
        outcome.violation = "escaped as an exception that is not a std::exception";
    }
    return outcome;
}

/// Real traces to mutate: short runs of shipped configs covering what a trace can hold (theory, events of
/// every severity, timestep norms of a recurrent layer, a diverged run, classification with evaluation).
/// `configsFolder` is the repository's configs/; traces are written into `outputFolder`.
inline std::vector<std::string> makeSeedTraces(const std::string& configsFolder, const std::string& outputFolder,
                                               const PluginHost& host) {
    struct Seed {
        const char* config;
        std::vector<std::string> overrides;
    };
    const std::vector<Seed> seeds{
        {"two_layer.yaml", {"training.steps=4"}},
        {"deep_sigmoid.yaml", {"training.steps=21", "data.samples=256", "training.eval_every=10"}},
        {"recurrent/adding_rnn.yaml",
         {"training.steps=11", "trace.every=5", "data.samples=128", "data.timesteps=30", "training.eval_every=5"}},
        {"remedies/rnn_exploding.yaml", {"training.steps=20", "data.samples=128", "data.timesteps=20"}},
        {"spirals.yaml", {"training.epochs=null", "training.steps=6", "trace.every=2", "trace.snapshot_every=3"}},
    };
    std::filesystem::create_directories(outputFolder);
    std::vector<std::string> paths;
    for (const Seed& seed : seeds) {
        const RunConfig config = loadRunConfig(configsFolder + "/" + seed.config, seed.overrides, host);
        RunOptions options;
        options.output = outputFolder + "/" + config.name + ".h5";
        runTraining(config, host, options);
        paths.push_back(options.output);
    }
    return paths;
}

/// The objects of an HDF5 file: datasets, groups (not the root) and attributes (object path, name).
struct TraceInventory {
    std::vector<std::string> datasets, groups;
    std::vector<std::pair<std::string, std::string>> attributes;
};

namespace detail {

inline herr_t collectObject(hid_t, const char* name, const H5O_info_t* info, void* data) {
    auto* inventory = static_cast<TraceInventory*>(data);
    const std::string path = std::string(name) == "." ? "/" : "/" + std::string(name);
    if (info->type == H5O_TYPE_DATASET) inventory->datasets.push_back(path);
    if (info->type == H5O_TYPE_GROUP && path != "/") inventory->groups.push_back(path);
    return 0;
}

inline herr_t collectAttribute(hid_t, const char* name, const H5A_info_t*, void* data) {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
}

/// Silences HDF5's error printing while mutating: a mutation that HDF5 refuses is simply not made.
struct Quiet {
    H5E_auto2_t function = nullptr;
    void* data = nullptr;
    Quiet() {
        H5Eget_auto2(H5E_DEFAULT, &function, &data);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    ~Quiet() { H5Eset_auto2(H5E_DEFAULT, function, data); }
};

}  // namespace detail

inline TraceInventory inventoryOf(hid_t file) {
    TraceInventory inventory;
#if H5_VERSION_GE(1, 12, 0)
    H5Ovisit3(file, H5_INDEX_NAME, H5_ITER_INC, &detail::collectObject, &inventory, H5O_INFO_BASIC);
#else
    H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, &detail::collectObject, &inventory, H5O_INFO_BASIC);
#endif
    std::vector<std::string> objects{"/"};
    objects.insert(objects.end(), inventory.datasets.begin(), inventory.datasets.end());
    objects.insert(objects.end(), inventory.groups.begin(), inventory.groups.end());
    for (const std::string& object : objects) {
        std::vector<std::string> names;
        hsize_t index = 0;
        H5Aiterate_by_name(file, object.c_str(), H5_INDEX_NAME, H5_ITER_INC, &index, &detail::collectAttribute, &names,
                           H5P_DEFAULT);
        for (const std::string& name : names) inventory.attributes.emplace_back(object, name);
    }
    return inventory;
}

/// Applies mutations chosen by `Chooser` (anything with below(n), chance(percent) and next(): SeededRandom for
/// the deterministic test, the fuzzer's bytes for the libFuzzer target) to an HDF5 file in place.
template <typename Chooser>
class TraceMutator {
public:
    explicit TraceMutator(Chooser& choose) : choose_(choose) {}

    /// Opens `path` read-write, applies `operations` structural mutations and closes it. Returns a short log.
    std::string mutate(const std::string& path, int operations) {
        detail::Quiet quiet;
        trace::Hdf5Handle file = trace::Hdf5Handle::file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
        if (!file.valid()) return "(not opened)";
        std::string log;
        for (int operation = 0; operation < operations; ++operation) log += mutateOnce(file.get()) + "; ";
        return log;
    }

    /// Cuts the file to a fraction of its size (in 1/64ths, possibly 0).
    std::string truncate(const std::string& path) {
        const auto size = std::filesystem::file_size(path);
        const std::uintmax_t keep = size * choose_.below(64) / 64 + (choose_.chance(30) ? choose_.below(512) : 0);
        std::filesystem::resize_file(path, std::min<std::uintmax_t>(keep, size));
        return "truncated to " + std::to_string(std::min<std::uintmax_t>(keep, size)) + " of " + std::to_string(size);
    }

private:
    static const std::vector<std::string>& knownDatasets() {
        static const std::vector<std::string> paths{
            "/trace/step", "/trace/loss", "/trace/grad_norm", "/trace/signal_grad_norm", "/trace/param_grad_norm",
            "/trace/timestep_grad_norm/layers.0.rnn", "/trace/timestep_grad_norm/x", "/events/kind", "/events/step",
            "/events/where", "/events/timestep", "/events/value", "/events/message", "/meta/layer_names",
            "/meta/layer_kinds", "/meta/param_names", "/eval/loss"};
        return paths;
    }
    static const std::vector<std::pair<std::string, std::string>>& knownAttributes() {
        static const std::vector<std::pair<std::string, std::string>> attributes{
            {"/", "schema"}, {"/", "schema_version"}, {"/", "status"}, {"/", "status_message"},
            {"/", "precision"}, {"/", "config"}, {"/", "seed"}, {"/theory", "activation"}, {"/theory", "sigma_w2"},
            {"/theory", "chi_1"}, {"/theory", "converged"}, {"/theory", "note"}};
        return attributes;
    }

    std::string pickObject(const TraceInventory& inventory, bool groups) {
        const auto& existing = groups ? inventory.groups : inventory.datasets;
        if (!existing.empty() && choose_.chance(80)) return existing[choose_.below(existing.size())];
        if (groups) {
            static const std::vector<std::string> known{"/trace", "/events", "/meta", "/theory",
                                                        "/trace/timestep_grad_norm", "/eval", "/model"};
            return known[choose_.below(known.size())];
        }
        return knownDatasets()[choose_.below(knownDatasets().size())];
    }

    std::pair<std::string, std::string> pickAttribute(const TraceInventory& inventory) {
        if (!inventory.attributes.empty() && choose_.chance(70))
            return inventory.attributes[choose_.below(inventory.attributes.size())];
        return knownAttributes()[choose_.below(knownAttributes().size())];
    }

    /// The number of rows of the trace, for shapes close to the real ones.
    static hsize_t rowsOf(hid_t file) {
        trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(H5Dopen2(file, "/trace/step", H5P_DEFAULT));
        if (!dataset.valid()) return 3;
        trace::Hdf5Handle space = trace::Hdf5Handle::dataspace(H5Dget_space(dataset.get()));
        hsize_t dims[1] = {3};
        if (H5Sget_simple_extent_ndims(space.get()) == 1) H5Sget_simple_extent_dims(space.get(), dims, nullptr);
        return dims[0];
    }

    /// A datatype for a new dataset or attribute.
    trace::Hdf5Handle makeType() {
        hid_t type = -1;
        switch (choose_.below(20)) {
            case 0: case 1: case 2: type = H5Tcopy(H5T_IEEE_F64LE); break;
            case 3: type = H5Tcopy(H5T_IEEE_F32LE); break;
            case 4: type = H5Tcopy(H5T_IEEE_F64BE); break;
            case 5: case 6: type = H5Tcopy(H5T_STD_I64LE); break;
            case 7: type = H5Tcopy(H5T_STD_I8LE); break;
            case 8: type = H5Tcopy(H5T_STD_U64LE); break;
            case 9: type = H5Tcopy(H5T_STD_I32BE); break;
            case 10: case 11: case 12:
                type = H5Tcopy(H5T_C_S1);
                H5Tset_size(type, H5T_VARIABLE);
                if (choose_.chance(50)) H5Tset_cset(type, H5T_CSET_UTF8);
                break;
            case 13: case 14:
                type = H5Tcopy(H5T_C_S1);
                H5Tset_size(type, 1 + choose_.below(choose_.chance(10) ? 100000 : 40));
                if (choose_.chance(30)) H5Tset_strpad(type, H5T_STR_NULLTERM);
                break;
            case 15: {
                type = H5Tenum_create(H5T_NATIVE_INT);
                int value = 0;
                H5Tenum_insert(type, "zero", &value);
                break;
            }
            case 16:
                type = H5Tcreate(H5T_COMPOUND, sizeof(double));
                H5Tinsert(type, "a", 0, H5T_NATIVE_DOUBLE);
                break;
            case 17:
                type = H5Tcreate(H5T_OPAQUE, 4);
                H5Tset_tag(type, "opaque");
                break;
            case 18: {
                const hsize_t dims[1] = {2};
                type = H5Tarray_create2(H5T_NATIVE_DOUBLE, 1, dims);
                break;
            }
            default: {  // a 16-bit float: sign 15, exponent 10..14, mantissa 0..9
                type = H5Tcopy(H5T_IEEE_F32LE);
                H5Tset_fields(type, 15, 10, 5, 0, 10);
                H5Tset_size(type, 2);
                H5Tset_ebias(type, 15);
                break;
            }
        }
        return trace::Hdf5Handle::datatype(type);
    }

    /// A dataspace: scalar, empty, or 1- to 3-D around the trace's size; rarely one that is huge.
    trace::Hdf5Handle makeSpace(hsize_t rows, bool& huge) {
        huge = false;
        const hsize_t columns = choose_.below(12);
        std::vector<hsize_t> dims;
        switch (choose_.below(12)) {
            case 0: return trace::Hdf5Handle::dataspace(H5Screate(H5S_SCALAR));
            case 1: return trace::Hdf5Handle::dataspace(H5Screate(H5S_NULL));
            case 2: dims = {0}; break;
            case 3: dims = {1}; break;
            case 4: dims = {rows}; break;
            case 5: dims = {rows + 1}; break;
            case 6: dims = {rows > 0 ? rows - 1 : 0}; break;
            case 7: dims = {rows, columns}; break;
            case 8: dims = {rows, 0}; break;
            case 9: dims = {rows, columns, 2}; break;
            case 10: dims = {1, 1}; break;
            default:
                huge = true;
                dims = choose_.chance(50) ? std::vector<hsize_t>{hsize_t(1) << (20 + choose_.below(40))}
                                          : std::vector<hsize_t>{hsize_t(1) << 30, hsize_t(1) << (choose_.below(34))};
                break;
        }
        std::vector<hsize_t> maximum(dims.size(), H5S_UNLIMITED);
        return trace::Hdf5Handle::dataspace(H5Screate_simple(int(dims.size()), dims.data(), maximum.data()));
    }

    double pickNumber() {
        static const std::vector<double> values{0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 4.9e-324, 1e308, -1e308,
                                                std::numeric_limits<double>::quiet_NaN(),
                                                std::numeric_limits<double>::infinity(),
                                                -std::numeric_limits<double>::infinity(), 9.3e18, -9.3e18, 3.0, 1e-13};
        if (choose_.chance(30)) return std::ldexp(double(choose_.below(1000)), int(choose_.below(80)) - 40);
        return values[choose_.below(values.size())];
    }

    std::string pickString() {
        static const std::vector<std::string> values{
            "", "gradlab-trace", "gradlab-trace ", "completed", "diverged", "running", "interrupted", "float32",
            "non_finite", "exploding", "vanishing", "stalled", "saturated", "layers.0.dense", "dense", "rnn",
            "global", "forward loss", "\xff\xfe\xfd", "\xc3\x28", "a\"b\\c\n\t\x01", "name: x\nseed: [",
            "name: &a [*a]", "name: {{{{{{{{{{", "\xe2\x82\xac", "%s%n%x"};
        if (choose_.chance(5)) return std::string(1 + choose_.below(20000), 'x');
        if (choose_.chance(3)) return std::string(400, '[');
        return values[choose_.below(values.size())];
    }

    /// Writes values into a dataset or attribute of `type` with `count` elements through `write`.
    template <typename Write>
    void fill(hid_t type, hsize_t count, Write write) {
        if (count == 0 || count > 200000) return;
        const H5T_class_t typeClass = H5Tget_class(type);
        if (typeClass == H5T_STRING) {
            std::vector<std::string> texts;
            for (hsize_t index = 0; index < count; ++index) texts.push_back(pickString());
            if (H5Tis_variable_str(type) > 0) {
                std::vector<const char*> pointers;
                for (std::size_t index = 0; index < texts.size(); ++index)
                    pointers.push_back(choose_.chance(3) ? nullptr : texts[index].c_str());
                write(type, pointers.data());
            } else {
                const std::size_t size = H5Tget_size(type);
                if (size * count > (std::size_t(1) << 26)) return;
                std::vector<char> buffer(size * count, '\0');
                for (std::size_t index = 0; index < texts.size(); ++index)
                    std::memcpy(buffer.data() + index * size, texts[index].data(), std::min(size, texts[index].size()));
                write(type, buffer.data());
            }
        } else if (typeClass == H5T_INTEGER || typeClass == H5T_FLOAT) {
            std::vector<double> values(count);
            const double constant = pickNumber();
            const bool same = choose_.chance(40);
            for (double& value : values) value = same ? constant : pickNumber();
            write(H5T_NATIVE_DOUBLE, values.data());
        } else {
            const std::size_t size = H5Tget_size(type);
            if (size * count > (std::size_t(1) << 26)) return;
            std::vector<unsigned char> bytes(size * count);
            for (auto& byte : bytes) byte = static_cast<unsigned char>(choose_.below(256));
            if (typeClass != H5T_VLEN) write(type, bytes.data());
        }
    }

    static hsize_t pointsOf(hid_t space) {
        const hssize_t points = H5Sget_simple_extent_npoints(space);
        return points > 0 ? hsize_t(points) : 0;
    }

    std::string createDataset(hid_t file, const std::string& path) {
        bool huge = false;
        trace::Hdf5Handle type = makeType();
        trace::Hdf5Handle space = makeSpace(rowsOf(file), huge);
        trace::Hdf5Handle linkProperties = trace::Hdf5Handle::propertyList(H5Pcreate(H5P_LINK_CREATE));
        H5Pset_create_intermediate_group(linkProperties.get(), 1);
        trace::Hdf5Handle createProperties = trace::Hdf5Handle::propertyList(H5Pcreate(H5P_DATASET_CREATE));
        const int rank = H5Sget_simple_extent_ndims(space.get());
        if (rank > 0 && H5Sget_simple_extent_type(space.get()) == H5S_SIMPLE) {
            std::vector<hsize_t> chunk(static_cast<std::size_t>(rank), 16);
            H5Pset_chunk(createProperties.get(), rank, chunk.data());
            if (choose_.chance(50)) H5Pset_deflate(createProperties.get(), 4);
        }
        trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(H5Dcreate2(
            file, path.c_str(), type.get(), space.get(), linkProperties.get(), createProperties.get(), H5P_DEFAULT));
        if (!dataset.valid()) return "create " + path + " failed";
        if (!huge)
            fill(type.get(), pointsOf(space.get()), [&](hid_t memoryType, const void* buffer) {
                H5Dwrite(dataset.get(), memoryType, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
            });
        return "dataset " + path + (huge ? " (huge, unwritten)" : "");
    }

    std::string createAttribute(hid_t file, const std::string& object, const std::string& name) {
        bool huge = false;
        trace::Hdf5Handle type = makeType();
        trace::Hdf5Handle space = choose_.chance(60) ? trace::Hdf5Handle::dataspace(H5Screate(H5S_SCALAR))
                                                     : makeSpace(3, huge);
        if (huge) return "no huge attribute";
        if (H5Aexists_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT) > 0)
            H5Adelete_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT);
        trace::Hdf5Handle attribute = trace::Hdf5Handle::attribute(
            H5Acreate_by_name(file, object.c_str(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT));
        if (!attribute.valid()) return "attribute " + object + "@" + name + " failed";
        // Keep the header readable most of the time, so that the mutations reach past the schema check.
        if (name == "schema" && H5Tget_class(type.get()) == H5T_STRING && pointsOf(space.get()) == 1 &&
            choose_.chance(60) && H5Tis_variable_str(type.get()) > 0) {
            const char* text = "gradlab-trace";
            H5Awrite(attribute.get(), type.get(), &text);
        } else {
            fill(type.get(), pointsOf(space.get()),
                 [&](hid_t memoryType, const void* buffer) { H5Awrite(attribute.get(), memoryType, buffer); });
        }
        return "attribute " + object + "@" + name;
    }

    std::string mutateOnce(hid_t file) {
        const TraceInventory inventory = inventoryOf(file);
        switch (choose_.below(13)) {
            case 0: {
                const std::string path = pickObject(inventory, choose_.chance(30));
                H5Ldelete(file, path.c_str(), H5P_DEFAULT);
                return "delete " + path;
            }
            case 1: {
                const auto [object, name] = pickAttribute(inventory);
                H5Adelete_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT);
                return "delete attribute " + object + "@" + name;
            }
            case 2:
            case 3: {
                const auto [object, name] = pickAttribute(inventory);
                return createAttribute(file, object, name);
            }
            case 4:
            case 5:
            case 6: {
                const std::string path = pickObject(inventory, false);
                H5Ldelete(file, path.c_str(), H5P_DEFAULT);
                return createDataset(file, path);
            }
            case 7: {  // resize a dataset in place (they are chunked with unlimited rows)
                const std::string path = pickObject(inventory, false);
                trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
                if (!dataset.valid()) return "resize " + path + " failed";
                trace::Hdf5Handle space = trace::Hdf5Handle::dataspace(H5Dget_space(dataset.get()));
                const int rank = H5Sget_simple_extent_ndims(space.get());
                if (rank <= 0 || rank > 3) return "resize " + path + ": rank";
                std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
                H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
                // Shrinking a dataset that an earlier mutation made huge makes libhdf5 visit every chunk index.
                for (hsize_t extent : dims)
                    if (extent > (hsize_t(1) << 20)) return "resize " + path + ": already huge";
                const std::size_t axis = choose_.below(dims.size());
                dims[axis] = choose_.chance(50) ? choose_.below(dims[axis] + 3)
                                                : (choose_.chance(80) ? dims[axis] * 2 + 1 : hsize_t(1) << 40);
                H5Dset_extent(dataset.get(), dims.data());
                return "resize " + path;
            }
            case 8: {  // new values, same type and shape
                const std::string path = pickObject(inventory, false);
                trace::Hdf5Handle dataset = trace::Hdf5Handle::dataset(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
                if (!dataset.valid()) return "overwrite " + path + " failed";
                trace::Hdf5Handle type = trace::Hdf5Handle::datatype(H5Dget_type(dataset.get()));
                trace::Hdf5Handle space = trace::Hdf5Handle::dataspace(H5Dget_space(dataset.get()));
                fill(type.get(), pointsOf(space.get()), [&](hid_t memoryType, const void* buffer) {
                    H5Dwrite(dataset.get(), memoryType, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer);
                });
                return "overwrite " + path;
            }
            case 9: {  // a dataset where a group was, or a group where a dataset was
                const bool group = choose_.chance(50);
                const std::string path = pickObject(inventory, group);
                H5Ldelete(file, path.c_str(), H5P_DEFAULT);
                if (group) return createDataset(file, path);
                trace::Hdf5Handle linkProperties = trace::Hdf5Handle::propertyList(H5Pcreate(H5P_LINK_CREATE));
                H5Pset_create_intermediate_group(linkProperties.get(), 1);
                trace::Hdf5Handle::group(H5Gcreate2(file, path.c_str(), linkProperties.get(), H5P_DEFAULT, H5P_DEFAULT));
                return "group " + path;
            }
            case 10: {  // links: dangling, to itself, to the root (a cycle), to a missing external file
                const std::string path = pickObject(inventory, false);
                H5Ldelete(file, path.c_str(), H5P_DEFAULT);
                trace::Hdf5Handle linkProperties = trace::Hdf5Handle::propertyList(H5Pcreate(H5P_LINK_CREATE));
                H5Pset_create_intermediate_group(linkProperties.get(), 1);
                switch (choose_.below(4)) {
                    case 0: H5Lcreate_soft("/nowhere", file, path.c_str(), linkProperties.get(), H5P_DEFAULT); break;
                    case 1: H5Lcreate_soft(path.c_str(), file, path.c_str(), linkProperties.get(), H5P_DEFAULT); break;
                    case 2: H5Lcreate_hard(file, "/", file, path.c_str(), linkProperties.get(), H5P_DEFAULT); break;
                    default:
                        H5Lcreate_external("/nonexistent/missing.h5", "/x", file, path.c_str(), linkProperties.get(),
                                           H5P_DEFAULT);
                }
                return "link " + path;
            }
            case 11: {  // move one dataset onto another's place
                const std::string from = pickObject(inventory, false);
                const std::string to = pickObject(inventory, false);
                if (from == to) return "move nothing";
                H5Ldelete(file, to.c_str(), H5P_DEFAULT);
                H5Lmove(file, from.c_str(), file, to.c_str(), H5P_DEFAULT, H5P_DEFAULT);
                return "move " + from + " -> " + to;
            }
            default: {  // an extra member in a group the reader lists
                static const std::vector<std::string> groups{"/trace/timestep_grad_norm/", "/events/", "/theory/",
                                                             "/meta/", "/"};
                const std::string path = groups[choose_.below(groups.size())] + pickString().substr(0, 40);
                if (choose_.chance(50)) return createDataset(file, path);
                trace::Hdf5Handle linkProperties = trace::Hdf5Handle::propertyList(H5Pcreate(H5P_LINK_CREATE));
                H5Pset_create_intermediate_group(linkProperties.get(), 1);
                trace::Hdf5Handle::group(H5Gcreate2(file, path.c_str(), linkProperties.get(), H5P_DEFAULT, H5P_DEFAULT));
                return "extra group " + path;
            }
        }
    }

    Chooser& choose_;
};

}  // namespace gradlab::fuzz
