// NameTable<T>: a thread-safe map from registered names to values (factories, functions, format
// descriptors). Knows nothing about machine learning.
//
// Every entry records its provider ("kserde" for built-ins, a plugin's name, "application"), so a
// clash names both sides, and a plugin's entries can be withdrawn together. Lookups take a shared
// lock and may run while another thread registers; add_all() is all-or-nothing.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kserde/error.hpp"

namespace kserde::registry {

enum class OnClash { Error, Override };

template <class T>
class NameTable {
 public:
  struct Entry {
    std::string key;
    T value;
    std::string provider;
  };

  explicit NameTable(std::string what) : what_(std::move(what)) {}

  // Registers one name. A name already provided by someone else is an error naming both
  // providers, unless on_clash is Override.
  void add(std::string key, T value, std::string provider, OnClash on_clash = OnClash::Error) {
    std::vector<Entry> one;
    one.push_back(Entry{std::move(key), std::move(value), std::move(provider)});
    add_all(std::move(one), on_clash);
  }

  // Registers every entry or none of them.
  void add_all(std::vector<Entry> entries, OnClash on_clash = OnClash::Error) {
    std::unique_lock lock(mutex_);
    std::map<std::string, const Entry*, std::less<>> batch;
    for (const Entry& e : entries) {
      if (e.key.empty()) throw ConfigError(what_ + " registration with an empty name");
      auto it = entries_.find(e.key);
      const Entry* other = it != entries_.end() ? &it->second : nullptr;
      auto in_batch = batch.find(e.key);
      if (in_batch != batch.end()) other = in_batch->second;
      if (other != nullptr && on_clash == OnClash::Error && other->provider != e.provider) {
        throw ConfigError(what_ + " '" + e.key + "' is provided twice: by " + other->provider +
                          " and by " + e.provider + "; load only one of them, or register with "
                          "OnClash::Override to replace the first");
      }
      batch[e.key] = &e;
    }
    for (Entry& e : entries) entries_.insert_or_assign(e.key, std::move(e));
  }

  std::optional<T> find(std::string_view key) const {
    std::shared_lock lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second.value;
  }

  std::optional<std::string> provider_of(std::string_view key) const {
    std::shared_lock lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second.provider;
  }

  bool contains(std::string_view key) const {
    std::shared_lock lock(mutex_);
    return entries_.find(key) != entries_.end();
  }

  std::vector<std::string> keys() const {
    std::shared_lock lock(mutex_);
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& [k, e] : entries_) out.push_back(k);
    return out;
  }

  // Withdraws one name (no-op when absent).
  void remove(std::string_view key) {
    std::unique_lock lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) entries_.erase(it);
  }

  // Withdraws every name the provider registered; returns how many.
  std::size_t remove_provider(std::string_view provider) {
    std::unique_lock lock(mutex_);
    std::size_t n = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (it->second.provider == provider) {
        it = entries_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  const std::string& what() const { return what_; }

 private:
  std::string what_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace kserde::registry
