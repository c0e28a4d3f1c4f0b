package clientip_test

import (
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/clientip"
)

// Behind a load balancer on 10.0.0.0/8, the client is the last address it
// appended to X-Forwarded-For; what the client wrote itself is ignored.
func ExampleResolver_IP() {
	trusted, err := clientip.ParsePrefixes("10.0.0.0/8") // the server's trusted-proxies setting
	if err != nil {
		log.Fatal(err)
	}
	resolver, err := clientip.New(trusted)
	if err != nil {
		log.Fatal(err)
	}

	r := httptest.NewRequest("POST", "/auth/jwt/login", nil)
	r.RemoteAddr = "10.0.0.1:51234"                                 // the load balancer
	r.Header.Set("X-Forwarded-For", "192.0.2.99, 2001:db8:1:2::77") // spoofed by the client, then appended by the balancer
	ip := resolver.IP(r)
	fmt.Println(ip, clientip.Group(ip))

	r.RemoteAddr = "198.51.100.4:40000" // no proxy: the header is ignored
	fmt.Println(resolver.IP(r))
	// Output:
	// 2001:db8:1:2::77 2001:db8:1:2::/64
	// 198.51.100.4
}
