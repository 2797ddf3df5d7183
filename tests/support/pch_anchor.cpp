// The program whose build compiles the precompiled header every test suite reuses
// (tests/CMakeLists.txt); it does nothing itself.
int main() {
  return 0;
}
