int klpack_example;
void _start(void) {}
