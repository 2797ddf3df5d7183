// The Boost.Test entry point shared by every kserde test executable.
#define BOOST_TEST_MODULE kserde
#include <boost/test/unit_test.hpp>
