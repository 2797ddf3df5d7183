#include <boost/test/unit_test.hpp>
#include <atomic>
#include <thread>

#include "kserde/registry/keras_name.hpp"
#include "kserde/registry/name_table.hpp"

using kserde::ConfigError;
using kserde::registry::NameTable;
using kserde::registry::OnClash;

BOOST_AUTO_TEST_SUITE(name_table)

BOOST_AUTO_TEST_CASE(clash_between_providers_names_both) {
  NameTable<int> table("layer");
  table.add("MyLayers>ScaledDense", 1, "plugin my_layers");
  try {
    table.add("MyLayers>ScaledDense", 2, "plugin other");
    BOOST_FAIL("expected a clash");
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("plugin my_layers") != std::string::npos);
    BOOST_TEST(msg.find("plugin other") != std::string::npos);
  }
  BOOST_TEST(*table.find("MyLayers>ScaledDense") == 1);
  table.add("MyLayers>ScaledDense", 3, "application", OnClash::Override);
  BOOST_TEST(*table.find("MyLayers>ScaledDense") == 3);
}

BOOST_AUTO_TEST_CASE(add_all_is_all_or_nothing) {
  NameTable<int> table("function");
  table.add("b", 1, "first");
  std::vector<NameTable<int>::Entry> batch{{"a", 1, "second"}, {"b", 2, "second"}};
  BOOST_CHECK_THROW(table.add_all(std::move(batch)), ConfigError);
  BOOST_TEST(!table.contains("a"));
  BOOST_TEST(*table.find("b") == 1);
  BOOST_TEST(table.remove_provider("first") == 1u);
  BOOST_TEST(table.keys().empty());
}

BOOST_AUTO_TEST_CASE(lookups_run_while_another_thread_registers) {
  NameTable<int> table("layer");
  table.add("stable", 7, "kserde");
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread reader([&] {
    while (!stop) {
      if (table.find("stable").value_or(-1) != 7) ++wrong;
    }
  });
  for (int i = 0; i < 2000; ++i) table.add("k" + std::to_string(i), i, "p");
  stop = true;
  reader.join();
  BOOST_TEST(wrong.load() == 0);
  BOOST_TEST(table.keys().size() == 2001u);
}

BOOST_AUTO_TEST_CASE(registered_names_split_like_keras) {
  auto n = kserde::registry::split_registered_name("MyLayers>ScaledDense");
  BOOST_TEST(n.package == "MyLayers");
  BOOST_TEST(n.name == "ScaledDense");
  BOOST_TEST(kserde::registry::split_registered_name("Dense").package.empty());
  BOOST_TEST(kserde::registry::make_registered_name("", "X") == "Custom>X");
}

BOOST_AUTO_TEST_SUITE_END()
